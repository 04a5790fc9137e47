"""Indexing, slicing and writes into a tensor: slice, select, narrow, index_select, gather,
take_along_dim, index, index_put, index_copy, slice_scatter, select_scatter.

Covers: slices with steps, negative starts and ends, open ends, ranks 1 to 5 (slice_scatter:
6); select of a first, middle and negative position; integer indices built in the module as
constant buffers (so the case runs on quantized targets too), with repeats, reversed order and
negative positions; index_put of rows, of single elements, with repeated positions
accumulated; index_copy along the first, a middle and the last dim, one index and several, out
of order; slice_scatter with start only, start and end, a step, on dims 0 to 2 (a KV cache
write at a position); select_scatter at the first, last and a negative index.
where and masked_fill are in comparison.py, embedding in embedding.py, padding in padding.py.
Not yet: masked_select and nonzero (data-dependent output shapes), scatter, scatter_reduce,
index_add, in-place index_copy_ on a buffer (mutated-buffer outputs), integer inputs,
zero-size slices.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges
from operators._shapes import between_mul_add, consts


class _Cache(torch.nn.Module):
    """A KV cache write: the new rows go in at a position, the whole cache is returned."""

    def __init__(self, how: str):
        super().__init__()
        self.how = how

    def forward(self, cache: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        if self.how == "index_copy":
            return cache.index_copy(2, torch.tensor([5, 6]), new)
        return cache.slice_scatter(new, dim=2, start=5, end=7)


CASES = [
    *op_cases("slice", None, {
        "dim1_range": (lambda g: (randn(g, 2, 8, 3),), {"module": lambda: Lambda(lambda x: x[:, 1:5]), "smoke": True}),
        "step2": (lambda g: (randn(g, 3, 12),), {"module": lambda: Lambda(lambda x: x[:, ::2])}),
        "step3_offset": (lambda g: (randn(g, 1, 2, 11, 4),), {"module": lambda: Lambda(lambda x: x[:, :, 1::3])}),
        "negative_end": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: x[:, :-2])}),
        "negative_start": (lambda g: (randn(g, 10, 3),), {"module": lambda: Lambda(lambda x: x[-4:])}),
        "rank1_prime": (lambda g: (randn(g, 31),), {"module": lambda: Lambda(lambda x: x[3:29:5])}),
        "two_dims_4d": (lambda g: (randn(g, 1, 3, 9, 9),), {"module": lambda: Lambda(lambda x: x[:, :, 2:7, 1:-1])}),
        "rank5_last_dim": (lambda g: (randn(g, 1, 2, 3, 4, 7),), {"module": lambda: Lambda(lambda x: x[..., 2:6])}),
        "end_past_size": (lambda g: (randn(g, 3, 6),), {"module": lambda: Lambda(lambda x: x[:, 2:100])}),
        "between_mul_add": (lambda g: (randn(g, 2, 16),), {"module": between_mul_add(lambda x: x[:, 4:12])}),
    }),
    *op_cases("select", None, {
        "dim1_middle": (lambda g: (randn(g, 2, 5, 6),), {"module": lambda: Lambda(lambda x: x[:, 2]), "smoke": True}),
        "dim0_first": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: x[0])}),
        "last_negative": (lambda g: (randn(g, 3, 7),), {"module": lambda: Lambda(lambda x: x.select(-1, -1))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x[:, :, 1, :, 3])}),
        "cls_token": (lambda g: (randn(g, 2, 10, 16),), {"module": lambda: Lambda(lambda x: x[:, 0, :])}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 6),), {"module": between_mul_add(lambda x: x[:, 3])}),
    }),
    *op_cases("narrow", None, {
        "dim1": (lambda g: (randn(g, 2, 10, 3),), {"module": lambda: Lambda(lambda x: x.narrow(1, 2, 5)), "smoke": True}),
        "negative_dim": (lambda g: (randn(g, 3, 11),), {"module": lambda: Lambda(lambda x: x.narrow(-1, 0, 10))}),
        "single_element": (lambda g: (randn(g, 7, 6),), {"module": lambda: Lambda(lambda x: x.narrow(0, 6, 1))}),
        "rank5": (lambda g: (randn(g, 1, 2, 6, 3, 4),), {"module": lambda: Lambda(lambda x: x.narrow(2, 1, 3))}),
        "between_mul_add": (lambda g: (randn(g, 4, 12),), {"module": between_mul_add(lambda x: x.narrow(1, 3, 6))}),
    }),
    *op_cases("index_select", None, {
        "dim1": (lambda g: (randn(g, 2, 8, 3),), {"module": consts(lambda x, i: torch.index_select(x, 1, i), [0, 3, 7]), "smoke": True}),
        "repeated_reversed": (lambda g: (randn(g, 6, 5),), {"module": consts(lambda x, i: torch.index_select(x, 0, i), [5, 5, 2, 0, 0])}),
        "negative_dim": (lambda g: (randn(g, 3, 4, 11),), {"module": consts(lambda x, i: torch.index_select(x, -1, i), [10, 1, 4, 6])}),
        "single_index": (lambda g: (randn(g, 1, 7, 5, 5),), {"module": consts(lambda x, i: torch.index_select(x, 1, i), [6])}),
        "rank1": (lambda g: (randn(g, 23),), {"module": consts(lambda x, i: torch.index_select(x, 0, i), [22, 0, 11, 3])}),
        "between_mul_add": (lambda g: (randn(g, 5, 8),), {"module": consts(lambda x, i: torch.index_select(x * 2, 1, i) + 1, [1, 2, 6])}),
    }),
    *op_cases("gather", None, {
        "dim1": (lambda g: (randn(g, 3, 5),), {"module": consts(lambda x, i: torch.gather(x, 1, i), [[0, 4], [2, 2], [1, 3]]), "smoke": True}),
        "dim0": (lambda g: (randn(g, 4, 3),), {"module": consts(lambda x, i: torch.gather(x, 0, i), [[3, 0, 1], [0, 0, 2]])}),
        "negative_dim_3d": (lambda g: (randn(g, 2, 2, 6),), {"module": consts(lambda x, i: torch.gather(x, -1, i),
                                                                               [[[5, 0, 1], [2, 2, 2]], [[0, 1, 2], [3, 4, 5]]])}),
        "smaller_index_4d": (lambda g: (randn(g, 1, 3, 4, 4),), {"module": consts(lambda x, i: torch.gather(x, 2, i),
                                                                                   [[[[3, 2], [0, 1]], [[1, 1], [2, 3]]]])}),
        "large_values": (lambda g: (with_edges(g, 2, 9, scale=1000.0),), {"module": consts(lambda x, i: torch.gather(x, 1, i),
                                                                                            [[8, 0, 4, 4], [1, 7, 3, 2]])}),
    }),
    *op_cases("take_along_dim", None, {
        "dim1": (lambda g: (randn(g, 3, 6),), {"module": consts(lambda x, i: torch.take_along_dim(x, i, 1), [[5, 0], [1, 1], [2, 4]]), "smoke": True}),
        "broadcast_index": (lambda g: (randn(g, 4, 7),), {"module": consts(lambda x, i: torch.take_along_dim(x, i, 1), [[6, 3, 0]])}),
        "negative_dim_3d": (lambda g: (randn(g, 2, 3, 5),), {"module": consts(lambda x, i: torch.take_along_dim(x, i, -1), [[[4], [0], [2]]])}),
        "flattened": (lambda g: (randn(g, 3, 4),), {"module": consts(lambda x, i: torch.take_along_dim(x, i), [11, 0, 5, 5])}),
    }),
    *op_cases("index", None, {
        "dim0_list": (lambda g: (randn(g, 6, 4),), {"module": consts(lambda x, i: x[i], [4, 1, 1, 0]), "smoke": True}),
        "dim1_list": (lambda g: (randn(g, 2, 7, 3),), {"module": consts(lambda x, i: x[:, i], [6, 0, 3])}),
        "negative_positions": (lambda g: (randn(g, 9, 2),), {"module": consts(lambda x, i: x[i], [-1, -9, 2])}),
        "two_index_lists": (lambda g: (randn(g, 5, 6),), {"module": consts(lambda x, i, j: x[i, j], [0, 4, 2], [5, 1, 1])}),
        "2d_index_last_dim": (lambda g: (randn(g, 1, 3, 8),), {"module": consts(lambda x, i: x[..., i], [[0, 7], [3, 3]])}),
        "rank5": (lambda g: (randn(g, 1, 2, 5, 3, 2),), {"module": consts(lambda x, i: x[:, :, i], [4, 0])}),
    }),
    *op_cases("index_put", None, {
        "rows_from_input": (lambda g: (randn(g, 5, 4), randn(g, 2, 4)),
                            {"module": consts(lambda x, v, i: torch.index_put(x, (i,), v), [1, 3]), "smoke": True}),
        "scalar_value": (lambda g: (randn(g, 6, 3),), {"module": consts(lambda x, i, v: torch.index_put(x, (i,), v), [0, 5], 2.5)}),
        "two_index_lists": (lambda g: (randn(g, 4, 5), randn(g, 3)),
                            {"module": consts(lambda x, v, i, j: torch.index_put(x, (i, j), v), [0, 2, 3], [4, 0, 1])}),
        "accumulate_repeated": (lambda g: (randn(g, 5, 3), randn(g, 3, 3)),
                                {"module": consts(lambda x, v, i: torch.index_put(x, (i,), v, accumulate=True), [2, 2, 4])}),
    }),
    *op_cases("index_copy", None, {
        "dim0": (lambda g: (randn(g, 6, 4), randn(g, 2, 4)), {"module": lambda: Lambda(
            lambda x, s: x.index_copy(0, torch.tensor([4, 1]), s)), "smoke": True}),
        "middle_dim_one_index": (lambda g: (randn(g, 2, 7, 3), randn(g, 2, 1, 3)), {"module": lambda: Lambda(
            lambda x, s: x.index_copy(1, torch.tensor([3]), s))}),
        "last_dim_out_of_order": (lambda g: (randn(g, 3, 9), randn(g, 3, 3)), {"module": lambda: Lambda(
            lambda x, s: x.index_copy(-1, torch.tensor([8, 0, 4]), s))}),
        "kv_cache_write": (lambda g: (randn(g, 1, 2, 16, 8), randn(g, 1, 2, 2, 8)), {"module": lambda: _Cache("index_copy")}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5), randn(g, 1, 2, 1, 4, 5)), {"module": lambda: Lambda(
            lambda x, s: x.index_copy(2, torch.tensor([2]), s))}),
    }),
    *op_cases("slice_scatter", None, {
        "start_only": (lambda g: (randn(g, 8, 4), randn(g, 3, 4)), {"module": lambda: Lambda(
            lambda x, s: x.slice_scatter(s, start=5)), "smoke": True}),
        "start_end_dim1": (lambda g: (randn(g, 2, 10, 3), randn(g, 2, 4, 3)), {"module": lambda: Lambda(
            lambda x, s: x.slice_scatter(s, dim=1, start=2, end=6))}),
        "step_2": (lambda g: (randn(g, 3, 8), randn(g, 3, 4)), {"module": lambda: Lambda(
            lambda x, s: x.slice_scatter(s, dim=1, step=2))}),
        "kv_cache_write": (lambda g: (randn(g, 1, 2, 16, 8), randn(g, 1, 2, 2, 8)), {"module": lambda: _Cache("slice_scatter")}),
        "whole_default": (lambda g: (randn(g, 4, 4), randn(g, 4, 4)), {"module": lambda: Lambda(lambda x, s: x.slice_scatter(s))}),
        "rank6": (lambda g: (randn(g, 1, 2, 2, 3, 2, 5), randn(g, 1, 2, 2, 1, 2, 5)), {"module": lambda: Lambda(
            lambda x, s: x.slice_scatter(s, dim=3, start=1, end=2))}),
    }),
    *op_cases("select_scatter", None, {
        "first": (lambda g: (randn(g, 5, 4), randn(g, 4)), {"module": lambda: Lambda(
            lambda x, s: x.select_scatter(s, 0, 0)), "smoke": True}),
        "last_dim1": (lambda g: (randn(g, 2, 6, 3), randn(g, 2, 3)), {"module": lambda: Lambda(
            lambda x, s: x.select_scatter(s, 1, 5))}),
        "negative_index": (lambda g: (randn(g, 3, 7), randn(g, 3)), {"module": lambda: Lambda(
            lambda x, s: x.select_scatter(s, -1, -2))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5), randn(g, 1, 2, 3, 5)), {"module": lambda: Lambda(
            lambda x, s: x.select_scatter(s, 3, 1))}),
    }),
]
