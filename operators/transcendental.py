"""Transcendental and other elementwise math: exp, log, log10, log2, log1p, expm1, sqrt, rsqrt,
erf, erfinv, logit, sin, cos, tan, asin, acos, atan, atan2, sinh, cosh, asinh, acosh, atanh.

Covers: ranks 1 to 6 (exp, log, sqrt, rsqrt, erf and sin: a few of ranks 1 to 5), odd and prime
sizes, inputs across each function's whole domain and up to its edges (positive for
log/sqrt/rsqrt; asin/acos/atanh/erfinv at +-0.999, acosh from 1, log1p and logit near their
poles), wide dynamic ranges, large magnitudes, zeros and negative zeros, wide arguments (cos of
+-100 and sin of +-50, where range reduction matters), a million elements (cos, log1p, expm1),
logit with and without eps; float-only: zeros into log/rsqrt, overflow to Inf, Inf inputs.
Not yet: NaN-producing cases (the catalog's determinism check compares outputs with
torch.equal, which NaN never passes), NaN inputs for the inverse functions (their float-only
NaN outputs), complex inputs, in-place and out= variants.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators._shapes import MILLION, by_rank

INF = float("inf")


def log_uniform(g: torch.Generator, *shape: int, low: float, high: float) -> torch.Tensor:
    """Positive values spread over decades: exp of uniform(low, high)."""
    return torch.exp(uniform(g, *shape, low=low, high=high))


def nonnegative_edges(g: torch.Generator, *shape: int, scale: float = 4.0) -> torch.Tensor:
    """with_edges folded to x >= 0, keeping its +0.0 and -0.0."""
    x = with_edges(g, *shape, scale=scale)
    return torch.where(x < 0, -x, x)


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
    *op_cases("exp", lambda: Lambda(torch.exp), {
        "2d": (lambda g: (randn(g, 4, 32, std=2.0),), {"smoke": True}),
        "rank4_prime": lambda g: (randn(g, 1, 3, 7, 11),),
        "wide_negative": lambda g: (uniform(g, 2, 8, 16, low=-20.0, high=3.0),),
        "overflow": (lambda g: (uniform(g, 3, 37, low=-100.0, high=100.0),), {"float_only": True}),
    }),
    *op_cases("log", lambda: Lambda(torch.log), {
        "4d": (lambda g: (uniform(g, 1, 3, 8, 8, low=0.1, high=10.0),), {"smoke": True}),
        "wide_range": lambda g: (log_uniform(g, 2, 64, low=-10.0, high=10.0),),
        "near_one": lambda g: (uniform(g, 5, 29, low=0.5, high=1.5),),
        "zeros": (lambda g: (nonnegative_edges(g, 4, 16),), {"float_only": True}),
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
    *op_cases("sqrt", lambda: Lambda(torch.sqrt), {
        "4d": (lambda g: (uniform(g, 1, 3, 8, 8, low=0.0, high=9.0),), {"smoke": True}),
        "large": lambda g: (uniform(g, 2, 37, low=0.0, high=1e4),),
        "rank1_zeros": lambda g: (nonnegative_edges(g, 61),),
        "inf": (lambda g: (torch.cat([uniform(g, 29, low=0.0, high=4.0), torch.tensor([INF, 0.0, -0.0])]),), {"float_only": True}),
    }),
    *op_cases("rsqrt", lambda: Lambda(torch.rsqrt), {
        "4d": (lambda g: (uniform(g, 1, 3, 8, 8, low=0.1, high=10.0),), {"smoke": True}),
        "rank1_small": lambda g: (uniform(g, 53, low=1e-3, high=0.1),),
        "rank3_wide_range": lambda g: (log_uniform(g, 2, 4, 16, low=-6.0, high=6.0),),
        "zeros": (lambda g: (nonnegative_edges(g, 4, 16),), {"float_only": True}),
    }),
    *op_cases("erf", lambda: Lambda(torch.erf), {
        "2d": (lambda g: (randn(g, 4, 32, std=2.0),), {"smoke": True}),
        "saturating": lambda g: (randn(g, 3, 50, std=10.0),),
        "rank1_edges": lambda g: (with_edges(g, 47, scale=2.0),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5),),
    }),
    *by_rank("erfinv", _unary(torch.erfinv), _in(-0.99, 0.99), {
        "edges": lambda g: (_shuffled(g, [-0.999, -0.5, -0.0, 0.0, 0.5, 0.999]),),
    }),
    *by_rank("logit", _unary(torch.logit), _in(0.01, 0.99), {
        "eps_clamps_poles": (lambda g: (uniform(g, 3, 30, low=0.0, high=1.0),), {"module": _unary(lambda x: torch.logit(x, eps=1e-3))}),
        "near_half": lambda g: (uniform(g, 3, 30, low=0.45, high=0.55),),
    }),
    *op_cases("sin", lambda: Lambda(torch.sin), {
        "4d": (lambda g: (randn(g, 1, 3, 8, 8, std=2.0),), {"smoke": True}),
        "wide": lambda g: (uniform(g, 2, 64, low=-50.0, high=50.0),),
        "small": lambda g: (randn(g, 5, 29, std=1e-2),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5, std=3.0),),
    }),
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
]
