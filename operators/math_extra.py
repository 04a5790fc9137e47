"""More elementwise math: cos, tan, the inverse trigonometric and hyperbolic functions,
sinh, cosh, atan2, log10, log1p, log2, expm1, trunc, erfinv, logit, rsub and floor_divide.

Covers: ranks 1 to 6 for each, inputs across each function's whole domain and up to its
edges (asin/acos/atanh/erfinv at +-0.999, acosh from 1, log1p and logit near their poles),
wide arguments (cos and sin of +-100, where range reduction matters), a million elements
(cos, log1p, expm1), logit with and without eps, rsub with and without alpha and with a
scalar, floor_divide by negative and fractional divisors, trunc of half-integers.
Not yet: complex inputs, NaN inputs for the inverse functions (their float-only NaN outputs).
"""

import torch

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators._shapes import MILLION, by_rank


def _in(low: float, high: float):
    return lambda g, shape: uniform(g, *shape, low=low, high=high)


def _normal(std: float = 1.0):
    return lambda g, shape: randn(g, *shape, std=std)


def _shuffled(g: torch.Generator, values: list[float], times: int = 7) -> torch.Tensor:
    """The edge values, each `times` times, in a seeded order."""
    x = torch.tensor(values).repeat(times)
    return x[torch.randperm(x.numel(), generator=g)]


def _unary(fn):
    return lambda: Lambda(fn)


CASES = [
    *by_rank("cos", _unary(torch.cos), _normal(2.0), {
        "wide_100": lambda g: (uniform(g, 4, 64, low=-100.0, high=100.0),),
        "edges": lambda g: (with_edges(g, 3, 21, edges=(0.0, -0.0, 3.14159265, -1.5707963)),),
        "million": lambda g: (randn(g, *MILLION, std=3.0),),
    }),
    *by_rank("tan", _unary(torch.tan), _in(-1.4, 1.4), {
        "near_poles": lambda g: (uniform(g, 2, 50, low=-1.55, high=1.55),),
    }),
    *by_rank("asin", _unary(torch.asin), _in(-0.999, 0.999), {
        "edges": lambda g: (_shuffled(g, [-0.999, -0.5, -0.0, 0.0, 0.5, 0.999]),),
    }),
    *by_rank("acos", _unary(torch.acos), _in(-0.999, 0.999), {
        "edges": lambda g: (_shuffled(g, [-0.999, -0.5, -0.0, 0.0, 0.5, 0.999]),),
    }),
    *by_rank("atan", _unary(torch.atan), _normal(3.0), {
        "wide": lambda g: (randn(g, 3, 33, std=1000.0),),
    }),
    *by_rank("atan2", lambda: Lambda(torch.atan2), _normal(2.0), {
        "quadrants_and_zeros": lambda g: (with_edges(g, 5, 13, edges=(0.0, -0.0, 1.0, -1.0)),
                                          with_edges(g, 5, 13, edges=(0.0, -0.0, -1.0, 1.0))),
        "broadcast": lambda g: (randn(g, 2, 3, 8), randn(g, 1, 1, 8)),
    }, inputs=2),
    *by_rank("sinh", _unary(torch.sinh), _normal(2.0), {"wide": lambda g: (uniform(g, 2, 40, low=-8.0, high=8.0),)}),
    *by_rank("cosh", _unary(torch.cosh), _normal(2.0), {"wide": lambda g: (uniform(g, 2, 40, low=-8.0, high=8.0),)}),
    *by_rank("asinh", _unary(torch.asinh), _normal(5.0), {"wide": lambda g: (randn(g, 2, 40, std=1000.0),)}),
    *by_rank("acosh", _unary(torch.acosh), _in(1.0, 20.0), {
        "from_one": lambda g: (1.0 + uniform(g, 3, 30, low=0.0, high=0.01),),
    }),
    *by_rank("atanh", _unary(torch.atanh), _in(-0.95, 0.95), {
        "edges": lambda g: (_shuffled(g, [-0.999, -0.9, -0.0, 0.0, 0.9, 0.999]),),
    }),
    *by_rank("log10", _unary(torch.log10), _in(0.01, 1000.0), {"tiny": lambda g: (uniform(g, 2, 30, low=1e-6, high=1e-3),)}),
    *by_rank("log2", _unary(torch.log2), _in(0.01, 1000.0), {"powers_of_two": lambda g: (2.0 ** torch.randint(-8, 9, (3, 17), generator=g),)}),
    *by_rank("log1p", _unary(torch.log1p), _in(-0.9, 10.0), {
        "near_zero": lambda g: (randn(g, 4, 32, std=1e-3),),
        "million": lambda g: (uniform(g, *MILLION, low=-0.5, high=5.0),),
    }),
    *by_rank("expm1", _unary(torch.expm1), _normal(2.0), {
        "near_zero": lambda g: (randn(g, 4, 32, std=1e-3),),
        "million": lambda g: (randn(g, *MILLION),),
    }),
    *by_rank("trunc", _unary(torch.trunc), _normal(4.0), {
        "half_integers": lambda g: (torch.randint(-8, 8, (4, 16), generator=g) + 0.5,),
    }),
    *by_rank("erfinv", _unary(torch.erfinv), _in(-0.99, 0.99), {
        "edges": lambda g: (_shuffled(g, [-0.999, -0.5, -0.0, 0.0, 0.5, 0.999]),),
    }),
    *by_rank("logit", _unary(torch.logit), _in(0.01, 0.99), {
        "eps_clamps_poles": (lambda g: (uniform(g, 3, 30, low=0.0, high=1.0),), {"module": _unary(lambda x: torch.logit(x, eps=1e-3))}),
        "near_half": lambda g: (uniform(g, 3, 30, low=0.45, high=0.55),),
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
]
