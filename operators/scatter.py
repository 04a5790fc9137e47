"""Writes into a tensor (the KV cache's ops) and reductions that pick: index_copy,
slice_scatter, select_scatter, min over a dim, median.

Covers: index_copy along the first, a middle and the last dim, one index and several,
out of order; slice_scatter with start only, start and end, a step, on dims 0 to 2 (a KV
cache write at a position); select_scatter at the first, last and a negative index; min over
a dim with and without keepdim (values and indices), ties, rank 1 to 6; median over a dim
and over everything (the lower of the two middles on even counts).
Not yet: in-place index_copy_ on a buffer (mutated-buffer outputs), scatter_reduce.
"""

import torch

from etconform.cases import Lambda, op_cases, randn
from operators._shapes import RANKS


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
    *op_cases("min_dim", lambda: Lambda(lambda x: torch.min(x, dim=-1)), {
        **{f"rank{r}": ((lambda g, s=s: (randn(g, *s),)), {"smoke": True} if r == 4 else {}) for r, s in RANKS.items()},
        "keepdim_dim0": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: torch.min(x, 0, keepdim=True))}),
        "values_only_dim1": (lambda g: (randn(g, 2, 7, 5),), {"module": lambda: Lambda(lambda x: x.min(dim=1).values)}),
        "ties": lambda g: (torch.randint(-2, 3, (4, 8), generator=g).float(),),  # five levels over 8: ties in every row
    }),
    *op_cases("median", lambda: Lambda(lambda x: torch.median(x, dim=-1)), {
        "last_dim_odd": (lambda g: (randn(g, 4, 9),), {"smoke": True}),
        "even_count_lower_middle": lambda g: (randn(g, 3, 8),),
        "keepdim_dim1": (lambda g: (randn(g, 2, 7, 5),), {"module": lambda: Lambda(lambda x: torch.median(x, 1, keepdim=True))}),
        "all_elements": (lambda g: (randn(g, 5, 7),), {"module": lambda: Lambda(lambda x: torch.median(x))}),
        "rank1": lambda g: (randn(g, 37),),
        "rank6": lambda g: (randn(g, 1, 2, 2, 3, 2, 5),),
    }),
]
