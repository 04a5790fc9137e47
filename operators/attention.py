"""Transformer building blocks: scaled_dot_product_attention, multihead_attention,
repeat_interleave, unflatten, cosine_similarity, pairwise_distance, embedding_bag and grid_sample.

Covers: SDPA with no mask, a boolean and an additive float mask, is_causal, an explicit
scale, grouped-query heads (enable_gqa, 8 query heads on 2 key/value heads), a single
query against a long cache (decode), dropout left at its default 0; nn.MultiheadAttention
with self- and cross-attention, batch_first both ways, a key padding mask, head weights
averaged or not, without bias; repeat_interleave by an int and a tensor of repeats and on
several dims (the GQA expansion); unflatten of the first, a middle and the last dim (with
-1); cosine_similarity and pairwise_distance over each dim, with eps and p given or left
out; embedding_bag with sum, mean and max and per-sample weights; grid_sample bilinear and
nearest, zeros and border padding, align_corners both ways.
Not yet: attention with dropout, nested tensors, grid_sample in 3-D and bicubic.
"""

import torch
import torch.nn.functional as F

from etconform.cases import Calls, Lambda, op_cases, randn, uniform

nn = torch.nn


def _qkv(g: torch.Generator, b: int, h: int, lq: int, lk: int, d: int, hk: int | None = None):
    return randn(g, b, h, lq, d), randn(g, b, hk or h, lk, d), randn(g, b, hk or h, lk, d)


def _mha(**kwargs) -> nn.Module:
    return Lambda(nn.MultiheadAttention(16, 4, **kwargs).eval().forward)


class _SelfAttention(nn.Module):
    def __init__(self, need_weights: bool = False, average: bool = True, batch_first: bool = True, bias: bool = True):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=batch_first, bias=bias)
        self.need_weights, self.average = need_weights, average

    def forward(self, x):
        out, weights = self.attn(x, x, x, need_weights=self.need_weights, average_attn_weights=self.average)
        return (out, weights) if self.need_weights else out


class _CrossAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True, kdim=12, vdim=8)

    def forward(self, q, k, v):
        return self.attn(q, k, v, need_weights=False)[0]


class _PaddedAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)

    def forward(self, x):
        padding = torch.zeros(x.shape[0], x.shape[1], dtype=torch.bool)
        padding[:, -3:] = True  # the last three positions are padding
        return self.attn(x, x, x, key_padding_mask=padding, need_weights=False)[0]


def _bag(mode: str, weights: bool = False) -> nn.Module:
    bag = nn.EmbeddingBag(50, 8, mode=mode)
    return Calls(bag, (lambda layer, ids, w: layer(ids, per_sample_weights=w)) if weights else None)


CASES = [
    *op_cases("scaled_dot_product_attention", lambda: Lambda(F.scaled_dot_product_attention), {
        "no_mask": (lambda g: _qkv(g, 1, 4, 16, 16, 8), {"smoke": True}),
        "causal": (lambda g: _qkv(g, 1, 2, 12, 12, 16), {"module": lambda: Lambda(
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True))}),
        "bool_mask": (lambda g: (*_qkv(g, 2, 2, 8, 10, 8), torch.rand(2, 1, 8, 10, generator=g) > 0.2), {}),
        "float_mask": (lambda g: (*_qkv(g, 1, 2, 8, 8, 8), randn(g, 1, 1, 8, 8)), {}),
        "scale_given": (lambda g: _qkv(g, 1, 2, 8, 8, 16), {"module": lambda: Lambda(
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.5))}),
        "gqa_8_on_2_heads": (lambda g: _qkv(g, 1, 8, 8, 8, 16, hk=2), {"module": lambda: Lambda(
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True))}),
        "decode_one_query": lambda g: _qkv(g, 1, 4, 1, 64, 16),
        "rank3_no_batch": lambda g: (randn(g, 4, 8, 16), randn(g, 4, 12, 16), randn(g, 4, 12, 16)),
    }),
    *op_cases("multihead_attention", None, {
        "self": (lambda g: (randn(g, 1, 10, 16),), {"module": lambda: _SelfAttention(), "smoke": True}),
        "self_with_weights": (lambda g: (randn(g, 2, 6, 16),), {"module": lambda: _SelfAttention(need_weights=True)}),
        "self_weights_per_head": (lambda g: (randn(g, 1, 6, 16),), {"module": lambda: _SelfAttention(True, average=False)}),
        "seq_first": (lambda g: (randn(g, 10, 1, 16),), {"module": lambda: _SelfAttention(batch_first=False)}),
        "no_bias": (lambda g: (randn(g, 1, 8, 16),), {"module": lambda: _SelfAttention(bias=False)}),
        "cross_kdim_vdim": (lambda g: (randn(g, 1, 5, 16), randn(g, 1, 9, 12), randn(g, 1, 9, 8)),
                            {"module": lambda: _CrossAttention()}),
        "key_padding_mask": (lambda g: (randn(g, 2, 9, 16),), {"module": lambda: _PaddedAttention()}),
    }),
    *op_cases("repeat_interleave", lambda: Lambda(lambda x: torch.repeat_interleave(x, 2)), {
        "flattened_default": (lambda g: (randn(g, 3, 5),), {"smoke": True}),
        "dim0": (lambda g: (randn(g, 3, 5),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(3, dim=0))}),
        "gqa_heads_dim1": (lambda g: (randn(g, 1, 2, 8, 16),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(4, dim=1))}),
        "last_dim": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(2, dim=-1))}),
        "repeats_per_row": (lambda g: (randn(g, 4, 6),), {"module": lambda: Lambda(
            lambda x: x.repeat_interleave(torch.tensor([1, 2, 0, 3]), dim=0, output_size=6))}),
        "rank6": (lambda g: (randn(g, 1, 2, 2, 3, 2, 5),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(2, dim=3))}),
        "rank1": lambda g: (randn(g, 37),),
    }),
    *op_cases("unflatten", None, {
        "last_dim": (lambda g: (randn(g, 2, 24),), {"module": lambda: Lambda(lambda x: x.unflatten(-1, (4, 6))), "smoke": True}),
        "first_dim": (lambda g: (randn(g, 12, 5),), {"module": lambda: Lambda(lambda x: x.unflatten(0, (3, 4)) * 2)}),
        "middle_with_minus_1": (lambda g: (randn(g, 2, 32, 3),), {"module": lambda: Lambda(lambda x: x.unflatten(1, (-1, 8)) + 1)}),
        "heads_split": (lambda g: (randn(g, 1, 10, 64),), {"module": lambda: Lambda(lambda x: x.unflatten(-1, (4, 16)).transpose(1, 2))}),
        "to_rank6": (lambda g: (randn(g, 2, 60),), {"module": lambda: Lambda(lambda x: x.unflatten(1, (2, 3, 2, 5)) - 1)}),
        "rank1": (lambda g: (randn(g, 36),), {"module": lambda: Lambda(lambda x: x.unflatten(0, (6, 6)).sum(0))}),
    }),
    *op_cases("cosine_similarity", lambda: Lambda(F.cosine_similarity), {
        "default_dim1": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"smoke": True}),
        "last_dim_4d": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"module": lambda: Lambda(
            lambda a, b: F.cosine_similarity(a, b, dim=-1))}),
        "broadcast": lambda g: (randn(g, 5, 16), randn(g, 1, 16)),
        "eps_near_zero_vectors": (lambda g: (randn(g, 4, 8, std=1e-5), randn(g, 4, 8)), {"module": lambda: Lambda(
            lambda a, b: F.cosine_similarity(a, b, dim=1, eps=1e-4))}),
        "rank1_dim0": (lambda g: (randn(g, 37), randn(g, 37)), {"module": lambda: Lambda(lambda a, b: F.cosine_similarity(a, b, dim=0))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5), randn(g, 1, 2, 3, 4, 5)), {"module": lambda: Lambda(
            lambda a, b: F.cosine_similarity(a, b, dim=2))}),
    }),
    *op_cases("pairwise_distance", lambda: Lambda(F.pairwise_distance), {
        "default_p2": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"smoke": True}),
        "p1": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"module": lambda: Lambda(lambda a, b: F.pairwise_distance(a, b, p=1.0))}),
        "keepdim": (lambda g: (randn(g, 3, 8), randn(g, 3, 8)), {"module": lambda: Lambda(
            lambda a, b: F.pairwise_distance(a, b, keepdim=True))}),
        "broadcast": lambda g: (randn(g, 5, 16), randn(g, 1, 16)),
        "rank3": lambda g: (randn(g, 2, 5, 11), randn(g, 2, 5, 11)),
    }),
    *op_cases("embedding_bag", None, {
        "mean_default": (lambda g: (torch.randint(0, 50, (4, 6), generator=g),), {"module": lambda: _bag("mean"), "smoke": True}),
        "sum": (lambda g: (torch.randint(0, 50, (3, 5), generator=g),), {"module": lambda: _bag("sum")}),
        "max": (lambda g: (torch.randint(0, 50, (3, 5), generator=g),), {"module": lambda: _bag("max")}),
        "sum_per_sample_weights": (lambda g: (torch.randint(0, 50, (3, 5), generator=g), uniform(g, 3, 5, low=0.0, high=2.0)),
                                   {"module": lambda: _bag("sum", weights=True)}),
        "one_per_bag": (lambda g: (torch.randint(0, 50, (7, 1), generator=g),), {"module": lambda: _bag("mean")}),
    }),
    *op_cases("grid_sample", lambda: Lambda(F.grid_sample), {
        "bilinear_default": (lambda g: (randn(g, 1, 3, 8, 8), uniform(g, 1, 5, 5, 2)), {"smoke": True}),
        "nearest": (lambda g: (randn(g, 1, 3, 8, 8), uniform(g, 1, 5, 5, 2)), {"module": lambda: Lambda(
            lambda x, grid: F.grid_sample(x, grid, mode="nearest", align_corners=False))}),
        "border_align_corners": (lambda g: (randn(g, 1, 2, 6, 9), uniform(g, 1, 4, 7, 2, low=-1.3, high=1.3)),
                                 {"module": lambda: Lambda(lambda x, grid: F.grid_sample(x, grid, padding_mode="border", align_corners=True))}),
        "zeros_outside": (lambda g: (randn(g, 2, 2, 6, 6), uniform(g, 2, 6, 6, 2, low=-1.5, high=1.5)), {"module": lambda: Lambda(
            lambda x, grid: F.grid_sample(x, grid, padding_mode="zeros", align_corners=False))}),
        "identity_grid": (lambda g: (randn(g, 1, 1, 5, 5),), {"module": lambda: Lambda(lambda x: F.grid_sample(
            x, F.affine_grid(torch.eye(2, 3).unsqueeze(0), [1, 1, 5, 5], align_corners=False), align_corners=False))}),
    }),
]
