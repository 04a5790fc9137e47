"""Elementwise arithmetic: add, sub, mul, div, neg, abs, pow, remainder, reciprocal, rsub,
floor_divide, lerp, maximum, minimum, clamp, floor, ceil, round, trunc, sign.

Covers: same shapes, ranks 1 to 5 (rsub, floor_divide and trunc: 1 to 6), odd and prime sizes,
broadcasting (scalar-like, trailing, leading dims), an operand reused (x + x), inputs kept away
from zero for div/reciprocal, large magnitudes, zeros and negative zeros, exact ties and
half-integers for rounding (trunc too), division modes, pow with scalar and elementwise
exponents, clamp with scalar and broadcast bounds, rsub with and without alpha and with a
scalar, floor_divide by negative and fractional divisors; float-only: int32 inputs (integer
floor_divide too), division by zero, Inf inputs.
Not yet: NaN-producing cases (the catalog's determinism check compares outputs with torch.equal,
which NaN never passes), square, fmod, integer dtypes for add/sub/mul, alpha != 1 for add and
sub, in-place and out= variants, integer division of integers other than floor_divide, complex
inputs. exp, log, sqrt, the trigonometric functions and the like are in transcendental.py.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators._shapes import by_rank

INF = float("inf")


def nonzero(g: torch.Generator, *shape: int, low: float = 0.5, high: float = 2.0) -> torch.Tensor:
    """Magnitudes in [low, high) with random signs: a safe divisor."""
    sign = torch.where(torch.rand(shape, generator=g) < 0.5, -1.0, 1.0)
    return uniform(g, *shape, low=low, high=high) * sign


def grid(g: torch.Generator, *shape: int, low: float = -4.0, high: float = 4.0, step: float = 0.5) -> torch.Tensor:
    """Float values on a coarse grid: exact ties, half-integers, zeros."""
    return torch.randint(round(low / step), round(high / step) + 1, shape, generator=g).float() * step


def int32(g: torch.Generator, *shape: int, low: int = -100, high: int = 100) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=g, dtype=torch.int32)


def _normal(std: float = 1.0):
    return lambda g, shape: randn(g, *shape, std=std)


def _unary(fn):
    return lambda: Lambda(fn)


CASES = [
    *op_cases("add", lambda: Lambda(lambda x, y: x + y), {
        "4d_same": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"smoke": True}),
        "broadcast_channel": lambda g: (randn(g, 1, 4, 6, 6), randn(g, 1, 4, 1, 1)),
        "rank1": lambda g: (randn(g, 17), randn(g, 17)),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5), randn(g, 1, 2, 3, 4, 5)),
        "edges_large": lambda g: (with_edges(g, 2, 33, scale=100.0), with_edges(g, 2, 33, scale=100.0)),
        "self": lambda g: (randn(g, 2, 16),) * 2,
    }),
    *op_cases("sub", lambda: Lambda(lambda x, y: x - y), {
        "2d_same": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"smoke": True}),
        "broadcast_row": lambda g: (randn(g, 3, 5, 7), randn(g, 1, 1, 7)),
        "edges": lambda g: (with_edges(g, 1, 3, 9, 9), with_edges(g, 1, 3, 9, 9)),
    }),
    *op_cases("mul", lambda: Lambda(lambda x, y: x * y), {
        "3d_same": (lambda g: (randn(g, 2, 8, 8), randn(g, 2, 8, 8)), {"smoke": True}),
        "broadcast_one_element": lambda g: (randn(g, 1, 3, 7, 7), uniform(g, 1, low=-2, high=2)),
        "edges": lambda g: (with_edges(g, 4, 31), with_edges(g, 4, 31)),
        "rank4_prime": lambda g: (randn(g, 1, 5, 7, 11), randn(g, 1, 5, 7, 11)),
    }),
    *op_cases("div", lambda: Lambda(lambda x, y: x / y), {
        "4d_same": (lambda g: (randn(g, 1, 3, 8, 8), nonzero(g, 1, 3, 8, 8)), {"smoke": True}),
        "broadcast_channel": lambda g: (randn(g, 1, 4, 6, 6), nonzero(g, 1, 4, 1, 1)),
        "rank5_small_divisor": lambda g: (randn(g, 1, 2, 3, 4, 5), nonzero(g, 1, 2, 3, 4, 5, low=0.05, high=0.5)),
        "floor_mode": (lambda g: (randn(g, 2, 31, std=4.0), nonzero(g, 2, 31)),
                       {"module": lambda: Lambda(lambda x, y: torch.div(x, y, rounding_mode="floor"))}),
        "by_zero": (lambda g: (nonzero(g, 3, 17), with_edges(g, 3, 17, edges=(0.0, -0.0, 0.0, -0.0))), {"float_only": True}),
    }),
    *op_cases("neg", lambda: Lambda(torch.neg), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8),), {"smoke": True}),
        "rank1_edges": lambda g: (with_edges(g, 64),),
        "rank5_large": lambda g: (randn(g, 1, 2, 3, 4, 5, std=100.0),),
        "int32": (lambda g: (int32(g, 4, 16),), {"float_only": True}),
    }),
    *op_cases("abs", lambda: Lambda(torch.abs), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8),), {"smoke": True}),
        "rank1_edges": lambda g: (with_edges(g, 63),),
        "all_negative": lambda g: (-uniform(g, 3, 7, 11, low=0.1, high=5.0),),
        "int32": (lambda g: (int32(g, 2, 3, 17),), {"float_only": True}),
    }),
    *op_cases("pow", lambda: Lambda(lambda x: x**2), {
        "square_4d": (lambda g: (randn(g, 1, 3, 8, 8),), {"smoke": True}),
        "cube_rank1_edges": (lambda g: (with_edges(g, 47, scale=2.0),), {"module": lambda: Lambda(lambda x: x**3)}),
        "half_exponent": (lambda g: (uniform(g, 2, 32, low=0.0, high=4.0),), {"module": lambda: Lambda(lambda x: x**0.5)}),
        "negative_exponent": (lambda g: (uniform(g, 3, 5, 7, low=0.2, high=4.0),), {"module": lambda: Lambda(lambda x: x**-1.5)}),
        "elementwise_exponent": (lambda g: (uniform(g, 2, 3, 11, low=0.5, high=2.0), uniform(g, 2, 3, 11, low=-2.0, high=3.0)),
                                 {"module": lambda: Lambda(torch.pow)}),
        "scalar_base": (lambda g: (randn(g, 1, 2, 3, 4, 5, std=2.0),), {"module": lambda: Lambda(lambda x: 2.0**x)}),
    }),
    *op_cases("remainder", lambda: Lambda(lambda x: torch.remainder(x, 3.0)), {
        "scalar_divisor": (lambda g: (randn(g, 2, 32, std=10.0),), {"smoke": True}),
        "negative_divisor": (lambda g: (randn(g, 4, 17, std=6.0),), {"module": lambda: Lambda(lambda x: torch.remainder(x, -2.5))}),
        "elementwise_divisor": (lambda g: (randn(g, 1, 3, 8, 8, std=5.0), nonzero(g, 1, 3, 8, 8, low=1.0, high=4.0)),
                                {"module": lambda: Lambda(torch.remainder)}),
        "broadcast": (lambda g: (randn(g, 2, 5, 9, std=5.0), nonzero(g, 1, 1, 9, low=1.0, high=4.0)), {"module": lambda: Lambda(torch.remainder)}),
    }),
    *op_cases("reciprocal", lambda: Lambda(torch.reciprocal), {
        "2d": (lambda g: (nonzero(g, 4, 32),), {"smoke": True}),
        "rank4": lambda g: (nonzero(g, 1, 3, 7, 7, low=0.25, high=8.0),),
        "near_zero": lambda g: (nonzero(g, 3, 41, low=0.02, high=0.5),),
        "zeros": (lambda g: (with_edges(g, 64, scale=1.0, edges=(0.0, -0.0, 0.0, -0.0)),), {"float_only": True}),
    }),
    *by_rank("rsub", lambda: Lambda(torch.rsub), _normal(), {
        "alpha_2": (lambda g: (randn(g, 3, 17), randn(g, 3, 17)), {"module": lambda: Lambda(lambda x, y: torch.rsub(x, y, alpha=2))}),
        "scalar": (lambda g: (randn(g, 3, 17),), {"module": lambda: Lambda(lambda x: 1.0 - x)}),
        "broadcast": lambda g: (randn(g, 2, 5, 7), randn(g, 7)),
    }, inputs=2),
    *op_cases("floor_divide", lambda: Lambda(torch.floor_divide), {
        "4d": (lambda g: (randn(g, 1, 3, 8, 8, std=10.0), uniform(g, 1, 3, 8, 8, low=0.5, high=3.0)), {"smoke": True}),
        "negative_divisor": lambda g: (randn(g, 4, 19, std=10.0), uniform(g, 4, 19, low=-3.0, high=-0.5)),
        "fractional_scalar": (lambda g: (randn(g, 2, 5, 11, std=4.0),), {"module": lambda: Lambda(lambda x: torch.floor_divide(x, 0.75))}),
        "rank1": lambda g: (randn(g, 37, std=10.0), uniform(g, 37, low=1.0, high=4.0)),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5, std=10.0), uniform(g, 1, 2, 3, 4, 5, low=1.0, high=4.0)),
        "rank6": lambda g: (randn(g, 1, 2, 2, 3, 2, 5, std=10.0), uniform(g, 1, 2, 2, 3, 2, 5, low=1.0, high=4.0)),
        "int32": (lambda g: (torch.randint(-50, 50, (4, 16), generator=g, dtype=torch.int32),
                             torch.randint(1, 7, (4, 16), generator=g, dtype=torch.int32)), {"float_only": True}),
    }),
    *op_cases("lerp", lambda: Lambda(lambda a, b: torch.lerp(a, b, 0.3)), {
        "scalar_weight": (lambda g: (randn(g, 1, 4, 8, 8), randn(g, 1, 4, 8, 8)), {"smoke": True}),
        "elementwise_weight": (lambda g: (randn(g, 3, 31), randn(g, 3, 31), uniform(g, 3, 31, low=0.0, high=1.0)), {"module": lambda: Lambda(torch.lerp)}),
        "broadcast_weight": (lambda g: (randn(g, 2, 5, 7), randn(g, 2, 5, 7), uniform(g, 1, 1, 7, low=0.0, high=1.0)), {"module": lambda: Lambda(torch.lerp)}),
        "extrapolate_rank1": (lambda g: (randn(g, 41), randn(g, 41)), {"module": lambda: Lambda(lambda a, b: torch.lerp(a, b, 1.75))}),
    }),
    *op_cases("maximum", lambda: Lambda(torch.maximum), {
        "4d_same": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"smoke": True}),
        "broadcast_row": lambda g: (randn(g, 3, 5, 7), randn(g, 1, 1, 7)),
        "ties": lambda g: (grid(g, 2, 64, low=-2.0, high=2.0), grid(g, 2, 64, low=-2.0, high=2.0)),
        "inf": (lambda g: (with_edges(g, 37, edges=(INF, -INF, 0.0)), with_edges(g, 37, edges=(-INF, INF, -0.0))), {"float_only": True}),
    }),
    *op_cases("minimum", lambda: Lambda(torch.minimum), {
        "4d_same": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"smoke": True}),
        "broadcast_leading": lambda g: (randn(g, 1, 4, 1, 9), randn(g, 2, 1, 5, 9)),
        "ties": lambda g: (grid(g, 2, 64, low=-2.0, high=2.0), grid(g, 2, 64, low=-2.0, high=2.0)),
        "rank1_edges": lambda g: (with_edges(g, 53), with_edges(g, 53)),
    }),
    *op_cases("clamp", lambda: Lambda(lambda x: torch.clamp(x, -1.0, 2.0)), {
        "min_max": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "min_only_edges": (lambda g: (with_edges(g, 61, edges=(0.0, -0.0, 0.5)),), {"module": lambda: Lambda(lambda x: torch.clamp(x, min=0.5))}),
        "max_only_rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5, std=2.0),), {"module": lambda: Lambda(lambda x: torch.clamp(x, max=-0.5))}),
        "broadcast_bounds": (lambda g: (randn(g, 2, 6, 8, std=3.0), uniform(g, 1, 1, 8, low=-2.0, high=-0.5), uniform(g, 1, 1, 8, low=0.5, high=2.0)),
                             {"module": lambda: Lambda(torch.clamp)}),
        "large": (lambda g: (randn(g, 3, 33, std=1000.0),), {"module": lambda: Lambda(lambda x: torch.clamp(x, -100.0, 100.0))}),
    }),
    *op_cases("floor", lambda: Lambda(torch.floor), {
        "4d": (lambda g: (randn(g, 1, 3, 8, 8, std=3.0),), {"smoke": True}),
        "half_integers": lambda g: (grid(g, 4, 32, low=-8.0, high=8.0),),
        "large": lambda g: (randn(g, 2, 33, std=1000.0),),
        "rank1_edges": lambda g: (with_edges(g, 64),),
    }),
    *op_cases("ceil", lambda: Lambda(torch.ceil), {
        "4d": (lambda g: (randn(g, 1, 3, 8, 8, std=3.0),), {"smoke": True}),
        "half_integers": lambda g: (grid(g, 4, 32, low=-8.0, high=8.0),),
        "large": lambda g: (randn(g, 2, 33, std=1000.0),),
        "rank1_edges": lambda g: (with_edges(g, 64),),
    }),
    *op_cases("round", lambda: Lambda(torch.round), {
        "4d": (lambda g: (randn(g, 1, 3, 8, 8, std=3.0),), {"smoke": True}),
        "half_integers": lambda g: (grid(g, 4, 32, low=-8.0, high=8.0),),  # halves round to even
        "large": lambda g: (randn(g, 2, 33, std=1000.0),),
        "rank1_edges": lambda g: (with_edges(g, 64),),
    }),
    *by_rank("trunc", _unary(torch.trunc), _normal(4.0), {
        "half_integers": lambda g: (torch.randint(-8, 8, (4, 16), generator=g) + 0.5,),
    }),
    *op_cases("sign", lambda: Lambda(torch.sign), {
        "4d": (lambda g: (randn(g, 1, 3, 8, 8),), {"smoke": True}),
        "rank1_edges": lambda g: (with_edges(g, 64),),
        "tiny": lambda g: (randn(g, 3, 31, std=1e-4),),
        "rank5_zeros": lambda g: (grid(g, 1, 2, 3, 4, 5, low=-1.0, high=1.0),),
    }),
]
