"""Attention: scaled_dot_product_attention, multihead_attention.

Covers: SDPA with no mask, a boolean and an additive float mask, is_causal, an explicit
scale, grouped-query heads (enable_gqa, 8 query heads on 2 key/value heads), a single
query against a long cache (decode), dropout left at its default 0; nn.MultiheadAttention
with self- and cross-attention, batch_first both ways, a key padding mask, head weights
averaged or not, without bias. The GQA expansion (repeat_interleave) and the heads split
(unflatten) are in shape.py.
Not yet: attention with dropout, nested tensors.
"""

import torch
import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn

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
]
