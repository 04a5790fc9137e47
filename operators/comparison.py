"""Comparisons and masking: eq, ne, lt, le, gt, ge, logical_not, logical_and, logical_or,
where, masked_fill, isnan, isinf.

Covers: both operands and a scalar operand (between grid points), exact ties between
operands (inputs on a coarse grid, so that ties survive quantization to a shared grid), 0.0 against -0.0, broadcasting, ranks 1 to 5,
masks built from comparisons inside the graph (the quantizable form), logical ops on float
operands with zeros, where/masked_fill with broadcast masks and large fill values;
float-only: int32 and bool inputs, Inf inputs, a -inf fill, and NaN for isnan/isinf
from a constant inside the graph (see NanAt).
logical_xor and the bitwise ops are in bitwise.py.
Not yet: comparisons of two differently scaled operands on purpose, NaN in comparison
operands, NaN inputs or outputs (the catalog's determinism check compares them with
torch.equal, which NaN never passes).
"""

from collections.abc import Callable

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges

NAN, INF = float("nan"), float("inf")


def grid(g: torch.Generator, *shape: int, low: float = -3.0, high: float = 3.0, step: float = 0.5) -> torch.Tensor:
    """Float values on a coarse grid: many exact ties and zeros."""
    return torch.randint(round(low / step), round(high / step) + 1, shape, generator=g).float() * step


def signed_zeros(g: torch.Generator, n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    """x with zeros of both signs; y equals x in about half the places and -x where x is zero."""
    x = with_edges(g, n, scale=2.0, edges=(0.0, -0.0, 0.0, -0.0))
    y = torch.where(torch.rand(n, generator=g) < 0.5, x, grid(g, n))
    return x, torch.where(x == 0, -x, y)


class NanAt(torch.nn.Module):
    """fn(x + c), c a seeded constant: NaN at about `fraction` of the places, 0 elsewhere.

    NaN reaches the op from inside the graph: the catalog's determinism check compares
    inputs and outputs with torch.equal, which a NaN never passes.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], *shape: int, fraction: float = 0.15):
        super().__init__()
        self.fn = fn
        self.register_buffer("nans", torch.where(torch.rand(shape) < fraction, NAN, 0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x + self.nans)


class CausalFill(torch.nn.Module):
    """Attention-style masking: the upper triangle to `value`, the mask a constant buffer."""

    def __init__(self, n: int, value: float):
        super().__init__()
        self.value = value
        self.register_buffer("mask", torch.ones(n, n, dtype=torch.bool).triu(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.masked_fill(self.mask, self.value)


def coin(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.rand(shape, generator=g) < 0.5


def int32(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randint(-5, 6, shape, generator=g, dtype=torch.int32)


def comparison(name: str, fn: Callable[..., torch.Tensor], with_int32: bool = False) -> list:
    variants = {
        "4d_ties": (lambda g: (grid(g, 1, 3, 8, 8), grid(g, 1, 3, 8, 8)), {"smoke": True}),
        # Between grid points: a quantized program rounds the scalar too (by up to half a
        # step), so a tie with a scalar has no well-defined quantized answer.
        "scalar": (lambda g: (grid(g, 4, 33),), {"module": lambda: Lambda(lambda x: fn(x, 0.25))}),
        "broadcast_rank3": lambda g: (grid(g, 3, 5, 7), grid(g, 1, 1, 7)),
        "signed_zeros": signed_zeros,
    }
    if with_int32:
        variants["int32"] = (lambda g: (int32(g, 2, 3, 4, 5, 6), int32(g, 1, 3, 1, 5, 1)), {"float_only": True})
    return op_cases(name, lambda: Lambda(fn), variants)


def logical(name: str, fn: Callable[..., torch.Tensor]) -> list:
    # Operands on a coarse grid, scalars between its points: a quantized program rounds a
    # scalar too, so random operands near it would have no well-defined quantized answer.
    return op_cases(name, lambda: Lambda(lambda x, y: fn(x > 0.25, y < -0.25)), {
        "from_comparisons": (lambda g: (grid(g, 1, 3, 8, 8), grid(g, 1, 3, 8, 8)), {"smoke": True}),
        "broadcast_comparisons": lambda g: (grid(g, 2, 6, 8), grid(g, 1, 1, 8)),
        "float_operands": (lambda g: (grid(g, 3, 31, low=-1.0, high=1.0, step=1.0), grid(g, 3, 31, low=-1.0, high=1.0, step=1.0)),
                           {"module": lambda: Lambda(fn)}),
        "bool": (lambda g: (coin(g, 4, 17), coin(g, 4, 17)), {"module": lambda: Lambda(fn), "float_only": True}),
    })


CASES = [
    *comparison("eq", torch.eq, with_int32=True),
    *comparison("ne", torch.ne),
    *comparison("lt", torch.lt),
    *comparison("le", torch.le),
    *comparison("gt", torch.gt, with_int32=True),
    *comparison("ge", torch.ge),
    *op_cases("logical_not", lambda: Lambda(lambda x: torch.logical_not(x > 0)), {
        "from_gt_4d": (lambda g: (randn(g, 1, 3, 8, 8),), {"smoke": True}),
        "float_zeros": (lambda g: (grid(g, 4, 32, low=-2.0, high=2.0, step=1.0),), {"module": lambda: Lambda(torch.logical_not)}),
        "rank1_signed_zeros": (lambda g: (with_edges(g, 37, edges=(0.0, -0.0, 0.0, -0.0)),), {"module": lambda: Lambda(torch.logical_not)}),
        "bool": (lambda g: (coin(g, 2, 3, 11),), {"module": lambda: Lambda(torch.logical_not), "float_only": True}),
    }),
    *logical("logical_and", torch.logical_and),
    *logical("logical_or", torch.logical_or),
    *op_cases("where", lambda: Lambda(lambda x, y: torch.where(x > y, x, y)), {
        "from_gt": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"smoke": True}),
        "scalar_other": (lambda g: (with_edges(g, 61),), {"module": lambda: Lambda(lambda x: torch.where(x > 0, x, 0.0))}),
        "broadcast_mask": (lambda g: (randn(g, 1, 1, 8), randn(g, 2, 6, 8), randn(g, 2, 1, 8, std=3.0)),
                           {"module": lambda: Lambda(lambda m, x, y: torch.where(m > 0, x, y))}),
        "rank5_abs_mask": (lambda g: (randn(g, 1, 2, 3, 4, 5, std=2.0), randn(g, 1, 2, 3, 4, 5)),
                           {"module": lambda: Lambda(lambda x, y: torch.where(x.abs() < 1, x, y))}),
        "bool_mask": (lambda g: (coin(g, 3, 5, 7), randn(g, 3, 5, 7), randn(g, 3, 5, 7)), {"module": lambda: Lambda(torch.where), "float_only": True}),
    }),
    *op_cases("masked_fill", lambda: Lambda(lambda x: x.masked_fill(x < 0, 0.0)), {
        "from_lt": (lambda g: (randn(g, 1, 4, 8, 8),), {"smoke": True}),
        "broadcast_mask": (lambda g: (randn(g, 1, 4, 6, 6), randn(g, 1, 4, 1, 1)),
                           {"module": lambda: Lambda(lambda x, m: x.masked_fill(m > 0, -1.0))}),
        "large_value": (lambda g: (randn(g, 3, 31), randn(g, 3, 31)), {"module": lambda: Lambda(lambda x, y: x.masked_fill(y > 1, 100.0))}),
        "neg_inf_causal": (lambda g: (randn(g, 2, 4, 8, 8),), {"module": lambda: CausalFill(8, -INF), "float_only": True}),
    }),
    *op_cases("isnan", lambda: NanAt(torch.isnan, 1, 3, 8, 8), {
        "with_nan_4d": (lambda g: (with_edges(g, 1, 3, 8, 8, edges=(INF, -INF, 0.0, -0.0)),), {"smoke": True, "float_only": True}),
        "with_inf_rank1": (lambda g: (with_edges(g, 33, edges=(INF, -INF, 0.0)),), {"module": lambda: Lambda(torch.isnan), "float_only": True}),
        "finite_rank3": (lambda g: (randn(g, 2, 5, 13, std=1e3),), {"module": lambda: Lambda(torch.isnan)}),
        "nan_to_zero": (lambda g: (randn(g, 4, 17),),
                        {"module": lambda: NanAt(lambda x: torch.where(torch.isnan(x), 0.0, x), 4, 17), "float_only": True}),
    }),
    *op_cases("isinf", lambda: Lambda(torch.isinf), {
        "with_inf_4d": (lambda g: (with_edges(g, 1, 3, 8, 8, edges=(INF, -INF, 0.0, -0.0)),), {"smoke": True, "float_only": True}),
        "with_nan_rank1": (lambda g: (with_edges(g, 33, edges=(INF, -INF, 0.0)),), {"module": lambda: NanAt(torch.isinf, 33), "float_only": True}),
        "finite_large_rank3": lambda g: (randn(g, 2, 5, 13, std=1e30),),
        "inf_to_max": (lambda g: (with_edges(g, 4, 17, edges=(INF, -INF, 0.0)),),
                       {"module": lambda: Lambda(lambda x: torch.where(torch.isinf(x), 1e4, x)), "float_only": True}),
    }),
]
