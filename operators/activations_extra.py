"""More activations: leaky_relu, hardswish, hardsigmoid, silu, elu, selu, softplus, mish,
prelu, log_sigmoid, softsign, threshold, glu, hardshrink.

Covers: values far beyond the bends and saturation points (x10, x100), inputs exactly at
the kinks (+-3 for the hard variants, the threshold, the shrink lambda), zeros and negative
zeros, mostly-negative inputs, non-default parameters (slopes, alpha, beta and the softplus
linear threshold, shrink lambda), PReLU with one, several and a prime number of seeded
per-channel slopes (some negative, some above 1), GLU halving different dims, ranks 1 to 5.
Not yet: celu, softshrink, tanhshrink, rrelu, in-place variants, NaN/Inf inputs.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges

nn = torch.nn


def prelu(channels: int) -> nn.PReLU:
    """PReLU with seeded slopes in [-0.5, 1.5), not the constant 0.25 default."""
    module = nn.PReLU(channels)
    with torch.no_grad():
        module.weight.uniform_(-0.5, 1.5)
    return module


CASES = [
    *op_cases("leaky_relu", lambda: nn.LeakyReLU(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "slope_0_2_rank1_edges": (lambda g: (with_edges(g, 64),), {"module": lambda: nn.LeakyReLU(0.2)}),
        "large_negative": lambda g: (randn(g, 3, 5, 7, std=100.0, mean=-50.0),),
        "rank5_slope_1_5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: nn.LeakyReLU(1.5)}),
    }),
    *op_cases("hardswish", lambda: nn.Hardswish(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=4.0),), {"smoke": True}),
        "beyond_bounds": lambda g: (randn(g, 2, 64, std=20.0),),
        "rank1_kinks": lambda g: (with_edges(g, 53, edges=(0.0, -0.0, -3.0, 3.0)),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5, std=3.0),),
    }),
    *op_cases("hardsigmoid", lambda: nn.Hardsigmoid(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=4.0),), {"smoke": True}),
        "beyond_bounds": lambda g: (randn(g, 2, 64, std=20.0),),
        "rank1_kinks": lambda g: (with_edges(g, 53, edges=(0.0, -0.0, -3.0, 3.0)),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5, std=3.0),),
    }),
    *op_cases("silu", lambda: nn.SiLU(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "large": lambda g: (randn(g, 3, 50, std=50.0),),
        "rank1_edges": lambda g: (with_edges(g, 61),),
        "rank3_negative": lambda g: (randn(g, 2, 9, 13, std=2.0, mean=-4.0),),
    }),
    *op_cases("elu", lambda: nn.ELU(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "alpha_0_5": (lambda g: (randn(g, 4, 33, std=3.0),), {"module": lambda: nn.ELU(alpha=0.5)}),
        "saturating_negative": lambda g: (randn(g, 2, 5, 11, std=10.0, mean=-8.0),),
        "rank1_edges": lambda g: (with_edges(g, 47),),
    }),
    *op_cases("selu", lambda: nn.SELU(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "rank1_edges": lambda g: (with_edges(g, 59),),
        "large": lambda g: (randn(g, 3, 41, std=20.0),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5),),
    }),
    *op_cases("softplus", lambda: nn.Softplus(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "beta_2_threshold_5": (lambda g: (randn(g, 4, 32, std=4.0),), {"module": lambda: nn.Softplus(beta=2.0, threshold=5.0)}),
        "large": lambda g: (randn(g, 3, 50, std=50.0),),  # mostly in the linear region (beta * x > 20)
        "rank1_edges": lambda g: (with_edges(g, 61),),
    }),
    *op_cases("mish", lambda: nn.Mish(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "large": lambda g: (randn(g, 3, 50, std=50.0),),
        "rank1_edges": lambda g: (with_edges(g, 61),),
        "rank3_negative": lambda g: (randn(g, 2, 9, 13, std=2.0, mean=-3.0),),
    }),
    *op_cases("prelu", lambda: prelu(8), {
        "channels_4d": (lambda g: (randn(g, 1, 8, 6, 6, std=3.0),), {"smoke": True}),
        "single_slope_2d": (lambda g: (randn(g, 4, 33, std=3.0),), {"module": lambda: prelu(1)}),
        "prime_channels_edges": (lambda g: (with_edges(g, 1, 7, 5, 5),), {"module": lambda: prelu(7)}),
        "rank3_channels": (lambda g: (randn(g, 2, 5, 13, std=3.0),), {"module": lambda: prelu(5)}),
    }),
    *op_cases("log_sigmoid", lambda: nn.LogSigmoid(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "saturating": lambda g: (randn(g, 2, 64, std=20.0),),
        "rank1_edges": lambda g: (with_edges(g, 47),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5, std=2.0),),
    }),
    *op_cases("softsign", lambda: nn.Softsign(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "large": lambda g: (randn(g, 3, 41, std=1000.0),),
        "rank1_edges": lambda g: (with_edges(g, 47),),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5, std=2.0),),
    }),
    *op_cases("threshold", lambda: nn.Threshold(0.5, -1.0), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=2.0),), {"smoke": True}),
        "at_threshold": lambda g: (with_edges(g, 3, 19, edges=(0.5, 0.5, 0.5001, 0.0, -0.0)),),
        "negative_threshold_rank1": (lambda g: (randn(g, 57, std=3.0),), {"module": lambda: nn.Threshold(-1.0, 2.0)}),
        "large": lambda g: (randn(g, 2, 5, 11, std=100.0),),
    }),
    *op_cases("glu", lambda: nn.GLU(dim=-1), {
        "last_dim": (lambda g: (randn(g, 4, 32, std=2.0),), {"smoke": True}),
        "dim1_4d": (lambda g: (randn(g, 1, 8, 6, 6, std=2.0),), {"module": lambda: nn.GLU(dim=1)}),
        "rank1": (lambda g: (randn(g, 34, std=2.0),), {"module": lambda: nn.GLU(dim=0)}),
        "large": (lambda g: (randn(g, 2, 3, 22, std=20.0),), {"module": lambda: Lambda(lambda x: torch.nn.functional.glu(x, dim=2))}),
    }),
    *op_cases("hardshrink", lambda: nn.Hardshrink(0.5), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8),), {"smoke": True}),
        "at_lambda": lambda g: (with_edges(g, 3, 19, scale=1.0, edges=(0.5, -0.5, 0.0, -0.0)),),
        "lambda_2_large": (lambda g: (randn(g, 2, 43, std=10.0),), {"module": lambda: nn.Hardshrink(2.0)}),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5),),
    }),
]
