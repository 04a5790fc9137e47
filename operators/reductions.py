"""Reductions: mean, sum, prod, amax, amin, max and min over a dim, median, argmax, argmin, var,
std, logsumexp, vector norm, cumsum, any, all.

Covers: reduction over one axis, over several axes and over all of them, keepdim on and
off, negative dims, ranks 1 to 5, singleton and prime-sized axes, large offsets and
magnitudes, zeros and negative zeros, ties (argmax/argmin return the first), biased and
unbiased variance, +-inf inputs to amax/amin, bool inputs to any/all; argmax, argmin,
any and all have integer or bool outputs; min over a dim with and without keepdim (values
and indices), ties, rank 1 to 6; median over a dim and over everything (the lower of the
two middles on even counts).
Not yet: mode, cumprod, dtype arguments, integer inputs other than bool.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators._shapes import RANKS


def _f(fn):
    """A module factory from a function of the input."""
    return lambda: Lambda(fn)


def _with_inf(g: torch.Generator) -> tuple[torch.Tensor]:
    x = randn(g, 3, 8)
    x[0, 2], x[1, 5], x[2, 0] = float("inf"), float("-inf"), float("inf")
    x[2, 7] = float("-inf")
    return (x,)


def _ties(g: torch.Generator) -> tuple[torch.Tensor]:
    """Values on a coarse grid, so every row has repeated maxima and minima."""
    return (torch.randint(-2, 3, (4, 9), generator=g).float(),)


def _bools(g: torch.Generator, *shape: int, p: float = 0.5) -> tuple[torch.Tensor]:
    return (torch.rand(shape, generator=g) < p,)


def _bools_with_false_row(g: torch.Generator) -> tuple[torch.Tensor]:
    x = torch.rand(4, 6, generator=g) < 0.9
    x[1] = False
    x[3] = True
    return (x,)


CASES = [
    *op_cases("mean", None, {
        "spatial_keepdim": (lambda g: (randn(g, 1, 8, 7, 7),), {"module": lambda: Lambda(lambda x: x.mean((2, 3), keepdim=True)), "smoke": True}),
        "last_dim": (lambda g: (randn(g, 3, 5, 20),), {"module": lambda: Lambda(lambda x: x.mean(-1))}),
        "rank1_offset": (lambda g: (randn(g, 50, mean=7.0),), {"module": lambda: Lambda(lambda x: x.mean(0, keepdim=True))}),
        "channels": (lambda g: (randn(g, 1, 16, 4, 4, std=4.0),), {"module": lambda: Lambda(lambda x: x.mean(1, keepdim=True))}),
        "all_dims": (lambda g: (randn(g, 2, 3, 5, 7),), {"module": _f(lambda x: x.mean())}),
        "rank5_two_dims": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": _f(lambda x: x.mean((1, 3)))}),
    }),
    *op_cases("sum", None, {
        "last_dim": (lambda g: (randn(g, 2, 4, 16),), {"module": _f(lambda x: x.sum(-1)), "smoke": True}),
        "spatial_keepdim": (lambda g: (randn(g, 1, 8, 5, 5),), {"module": _f(lambda x: x.sum((2, 3), keepdim=True))}),
        "all_dims": (lambda g: (randn(g, 3, 7, 11),), {"module": _f(lambda x: x.sum())}),
        "rank5_dim2": (lambda g: (randn(g, 1, 2, 6, 3, 4),), {"module": _f(lambda x: x.sum(2))}),
        "singleton_dim": (lambda g: (randn(g, 4, 1, 9),), {"module": _f(lambda x: x.sum(1))}),
        "edges_large": (lambda g: (with_edges(g, 3, 40, scale=100.0),), {"module": _f(lambda x: x.sum(1))}),
    }),
    *op_cases("prod", None, {
        "last_dim": (lambda g: (uniform(g, 3, 6, low=0.5, high=1.5),), {"module": _f(lambda x: x.prod(-1)), "smoke": True}),
        "dim0_signed": (lambda g: (uniform(g, 4, 8, low=-1.5, high=1.5),), {"module": _f(lambda x: x.prod(0))}),
        "with_zeros": (lambda g: (with_edges(g, 4, 5, scale=1.0),), {"module": _f(lambda x: x.prod(1, keepdim=True))}),
        "all_dims_small": (lambda g: (uniform(g, 2, 3, 2, low=0.8, high=1.2),), {"module": _f(lambda x: x.prod())}),
    }),
    *op_cases("amax", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.amax(-1)), "smoke": True}),
        "spatial_keepdim": (lambda g: (randn(g, 1, 8, 6, 6),), {"module": _f(lambda x: x.amax((2, 3), keepdim=True))}),
        "negative_only": (lambda g: (-randn(g, 3, 11).abs() - 1.0,), {"module": _f(lambda x: x.amax(1))}),
        "rank1_edges": (lambda g: (with_edges(g, 29, scale=100.0),), {"module": _f(lambda x: x.amax(0, keepdim=True))}),
        "inf": (_with_inf, {"module": _f(lambda x: x.amax(1)), "float_only": True}),
    }),
    *op_cases("amin", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.amin(-1)), "smoke": True}),
        "spatial_keepdim": (lambda g: (randn(g, 1, 8, 6, 6),), {"module": _f(lambda x: x.amin((2, 3), keepdim=True))}),
        "dim0_rank3": (lambda g: (randn(g, 5, 3, 7),), {"module": _f(lambda x: x.amin(0))}),
        "positive_only": (lambda g: (randn(g, 3, 11).abs() + 1.0,), {"module": _f(lambda x: x.amin(1))}),
        "inf": (_with_inf, {"module": _f(lambda x: x.amin(1)), "float_only": True}),
    }),
    *op_cases("max_dim", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.max(-1).values), "smoke": True}),
        "dim1_keepdim": (lambda g: (randn(g, 1, 8, 5, 5),), {"module": _f(lambda x: x.max(1, keepdim=True).values)}),
        "dim0_rank3": (lambda g: (randn(g, 6, 3, 4),), {"module": _f(lambda x: x.max(0).values)}),
        "negative_large": (lambda g: (randn(g, 3, 17, std=100.0, mean=-500.0),), {"module": _f(lambda x: x.max(1).values)}),
        "rank1": (lambda g: (randn(g, 41),), {"module": _f(lambda x: x.max(0, keepdim=True).values)}),
    }),
    *op_cases("min_dim", lambda: Lambda(lambda x: torch.min(x, dim=-1)), {
        **{f"rank{r}": ((lambda g, s=s: (randn(g, *s),)), {"smoke": True} if r == 4 else {}) for r, s in RANKS.items()},
        "keepdim_dim0": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: torch.min(x, 0, keepdim=True))}),
        "values_only_dim1": (lambda g: (randn(g, 2, 7, 5),), {"module": lambda: Lambda(lambda x: x.min(dim=1).values)}),
        "ties": lambda g: (torch.randint(-2, 3, (4, 8), generator=g).float(),),  # five levels over 8: ties in every row
    }),
    *op_cases("argmax", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.argmax(-1)), "smoke": True}),
        "dim1_keepdim": (lambda g: (randn(g, 2, 10, 3),), {"module": _f(lambda x: x.argmax(1, keepdim=True))}),
        "flattened": (lambda g: (randn(g, 3, 5, 7),), {"module": _f(lambda x: x.argmax())}),
        "ties": (_ties, {"module": _f(lambda x: x.argmax(1))}),
        "rank1_prime": (lambda g: (randn(g, 101, std=10.0),), {"module": _f(lambda x: x.argmax(0))}),
    }),
    *op_cases("argmin", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.argmin(-1)), "smoke": True}),
        "dim0": (lambda g: (randn(g, 7, 5),), {"module": _f(lambda x: x.argmin(0))}),
        "flattened": (lambda g: (randn(g, 2, 3, 8),), {"module": _f(lambda x: x.argmin())}),
        "ties": (_ties, {"module": _f(lambda x: x.argmin(1, keepdim=True))}),
    }),
    *op_cases("var", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.var(-1)), "smoke": True}),
        "biased_spatial_keepdim": (lambda g: (randn(g, 1, 8, 5, 5, std=2.0),), {"module": _f(lambda x: x.var((2, 3), keepdim=True, correction=0))}),
        "offset": (lambda g: (randn(g, 3, 20, mean=50.0),), {"module": _f(lambda x: x.var(1))}),
        "all_dims": (lambda g: (randn(g, 2, 3, 7),), {"module": _f(lambda x: x.var())}),
        "rank1_large": (lambda g: (randn(g, 33, std=30.0),), {"module": _f(lambda x: x.var(0, keepdim=True))}),
    }),
    *op_cases("std", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.std(-1)), "smoke": True}),
        "biased_channels": (lambda g: (randn(g, 1, 6, 4, 4),), {"module": _f(lambda x: x.std(1, correction=0))}),
        "offset_keepdim": (lambda g: (randn(g, 5, 12, mean=-20.0, std=0.5),), {"module": _f(lambda x: x.std(1, keepdim=True))}),
        "all_dims": (lambda g: (randn(g, 3, 4, 5),), {"module": _f(lambda x: x.std())}),
    }),
    *op_cases("logsumexp", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.logsumexp(-1)), "smoke": True}),
        "large_logits": (lambda g: (randn(g, 3, 10, std=50.0),), {"module": _f(lambda x: x.logsumexp(1))}),
        "two_dims_keepdim": (lambda g: (randn(g, 1, 4, 5, 6),), {"module": _f(lambda x: x.logsumexp((2, 3), keepdim=True))}),
        "rank1_offset": (lambda g: (randn(g, 19, mean=-30.0),), {"module": _f(lambda x: x.logsumexp(0))}),
    }),
    *op_cases("norm", None, {
        "l2_last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: torch.linalg.vector_norm(x, dim=-1)), "smoke": True}),
        "l1_dim1_keepdim": (lambda g: (randn(g, 2, 8, 5),), {"module": _f(lambda x: torch.linalg.vector_norm(x, ord=1, dim=1, keepdim=True))}),
        "linf": (lambda g: (randn(g, 3, 12),), {"module": _f(lambda x: torch.linalg.vector_norm(x, ord=float("inf"), dim=-1))}),
        "l2_all_dims": (lambda g: (randn(g, 2, 3, 4, 5),), {"module": _f(lambda x: torch.linalg.vector_norm(x))}),
        "l2_large_with_zeros": (lambda g: (with_edges(g, 4, 10, scale=100.0),), {"module": _f(lambda x: torch.linalg.vector_norm(x, dim=1))}),
    }),
    *op_cases("cumsum", None, {
        "last_dim": (lambda g: (randn(g, 4, 16),), {"module": _f(lambda x: x.cumsum(-1)), "smoke": True}),
        "dim0": (lambda g: (randn(g, 9, 5),), {"module": _f(lambda x: x.cumsum(0))}),
        "rank1_prime": (lambda g: (randn(g, 61),), {"module": _f(lambda x: x.cumsum(0))}),
        "channels_4d": (lambda g: (randn(g, 1, 6, 3, 3),), {"module": _f(lambda x: x.cumsum(1))}),
        "edges_large": (lambda g: (with_edges(g, 2, 25, scale=100.0),), {"module": _f(lambda x: x.cumsum(1))}),
    }),
    *op_cases("any", None, {
        "last_dim": (lambda g: _bools(g, 4, 8, p=0.2), {"module": _f(lambda x: x.any(-1)), "smoke": True}),
        "dim0_keepdim": (lambda g: _bools(g, 6, 5, p=0.1), {"module": _f(lambda x: x.any(0, keepdim=True))}),
        "all_dims": (lambda g: _bools(g, 2, 3, 4, p=0.05), {"module": _f(lambda x: x.any())}),
        "float_input": (lambda g: (with_edges(g, 3, 6, edges=(0.0, -0.0, 0.0, -0.0, 0.0, 0.0, -0.0)),), {"module": _f(lambda x: x.any(1))}),
    }, float_only=True),
    *op_cases("all", None, {
        "last_dim": (_bools_with_false_row, {"module": _f(lambda x: x.all(-1)), "smoke": True}),
        "dim0": (lambda g: _bools(g, 3, 7, p=0.8), {"module": _f(lambda x: x.all(0))}),
        "all_dims": (lambda g: _bools(g, 2, 3, 4, p=0.97), {"module": _f(lambda x: x.all())}),
        "float_input": (lambda g: (with_edges(g, 3, 6, edges=(0.0, -0.0)),), {"module": _f(lambda x: x.all(1))}),
    }, float_only=True),
    *op_cases("median", lambda: Lambda(lambda x: torch.median(x, dim=-1)), {
        "last_dim_odd": (lambda g: (randn(g, 4, 9),), {"smoke": True}),
        "even_count_lower_middle": lambda g: (randn(g, 3, 8),),
        "keepdim_dim1": (lambda g: (randn(g, 2, 7, 5),), {"module": lambda: Lambda(lambda x: torch.median(x, 1, keepdim=True))}),
        "all_elements": (lambda g: (randn(g, 5, 7),), {"module": lambda: Lambda(lambda x: torch.median(x))}),
        "rank1": lambda g: (randn(g, 37),),
        "rank6": lambda g: (randn(g, 1, 2, 2, 3, 2, 5),),
    }),
]
