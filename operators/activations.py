"""Non-linear activations: relu, relu6, hardtanh, sigmoid, tanh, gelu, leaky_relu, hardswish,
hardsigmoid, silu, elu, selu, celu, softplus, mish, prelu, log_sigmoid, softsign, threshold,
glu, hardshrink, softshrink, tanhshrink, and softmax, log_softmax and softmin.

Covers: values far beyond the clamp bounds, bends and saturation points (x10, x100), negatives,
zeros and negative zeros, F.relu6 (aten.relu6) after a convolution as well as nn.ReLU6
(aten.hardtanh), saturating ranges for sigmoid and tanh, both GELU approximations; inputs
exactly at the kinks (+-3 for the hard variants, the threshold, the shrink lambdas),
mostly-negative inputs, non-default parameters (slopes, alpha, beta and the softplus linear
threshold, shrink lambda), PReLU with one, several and a prime number of seeded per-channel
slopes (some negative, some above 1), GLU halving different dims, ranks 1 to 5; celu, softshrink
and tanhshrink at ranks 1 to 6, celu with alpha left at 1 and given (0.5, 2), softshrink with
the default lambda and a larger one, inputs exactly at the shrink thresholds, tanhshrink of
large inputs (where it is x - 1); softmax and log_softmax over the first, a middle and the last
axis, rank 1, large logits, a 1000-way log_softmax and -inf masks; softmin over the first and
last dims and a 1000-way one, ranks 1 to 6.
Not yet: rrelu (random in training), in-place variants, NaN/Inf inputs (other than softmax's
-inf masks).
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges
from operators._shapes import by_rank

F = torch.nn.functional
nn = torch.nn


def prelu(channels: int) -> nn.PReLU:
    """PReLU with seeded slopes in [-0.5, 1.5), not the constant 0.25 default."""
    module = nn.PReLU(channels)
    with torch.no_grad():
        module.weight.uniform_(-0.5, 1.5)
    return module


def _normal(std: float):
    return lambda g, shape: randn(g, *shape, std=std)


def _masked(g: torch.Generator) -> tuple[torch.Tensor]:
    x = randn(g, 4, 12)
    x[:, 7:] = float("-inf")  # every row keeps finite entries, so no NaN
    x[1, 2] = float("-inf")
    return (x,)


CASES = [
    *op_cases("relu", lambda: torch.nn.ReLU(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8),), {"smoke": True}),
        "rank1_edges": lambda g: (with_edges(g, 64),),
        "rank5_large": lambda g: (randn(g, 1, 2, 3, 4, 5, std=100.0),),
    }),
    *op_cases("relu6", lambda: torch.nn.ReLU6(), {
        "beyond_bounds": (lambda g: (randn(g, 1, 3, 8, 8, std=10.0),), {"smoke": True}),
        "2d_edges": lambda g: (with_edges(g, 8, 16, scale=8.0, edges=(0.0, -0.0, 6.0, 6.0001)),),
        "all_negative": lambda g: (-randn(g, 4, 32).abs() - 0.1,),
        # F.relu6 exports as aten.relu6, nn.ReLU6 as aten.hardtanh: quantizers match them apart.
        "functional_after_conv": (lambda g: (randn(g, 1, 3, 8, 8, std=3.0),),
                                  {"module": lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), Lambda(F.relu6))}),
    }),
    *op_cases("hardtanh", lambda: torch.nn.Hardtanh(-2.0, 3.0), {
        "asymmetric_bounds": (lambda g: (randn(g, 1, 8, 6, 6, std=5.0),), {"smoke": True}),
        "rank3": lambda g: (randn(g, 2, 9, 13, std=10.0),),
        "edges": lambda g: (with_edges(g, 3, 17, edges=(0.0, -0.0, -2.0, 3.0)),),
    }),
    *op_cases("sigmoid", lambda: torch.nn.Sigmoid(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=3.0),), {"smoke": True}),
        "saturating": lambda g: (randn(g, 2, 64, std=20.0),),
        "rank2_edges": lambda g: (with_edges(g, 5, 7),),
    }),
    *op_cases("tanh", lambda: torch.nn.Tanh(), {
        "4d": (lambda g: (randn(g, 1, 4, 8, 8, std=2.0),), {"smoke": True}),
        "saturating": lambda g: (randn(g, 3, 50, std=15.0),),
        "rank1_edges": lambda g: (with_edges(g, 31),),
    }),
    *op_cases("gelu", lambda: torch.nn.GELU(), {
        "erf_2d": (lambda g: (randn(g, 4, 64, std=3.0),), {"smoke": True}),
        "erf_4d_negative": lambda g: (randn(g, 1, 3, 8, 8, std=4.0, mean=-2.0),),
        "tanh_approx": (lambda g: (randn(g, 2, 8, 16, std=3.0),), {"module": lambda: torch.nn.GELU(approximate="tanh")}),
    }),
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
    *by_rank("celu", lambda: nn.CELU(), _normal(3.0), {
        "alpha_0_5": (lambda g: (randn(g, 4, 33, std=3.0),), {"module": lambda: nn.CELU(alpha=0.5)}),
        "alpha_2_saturating": (lambda g: (randn(g, 2, 5, 11, std=10.0, mean=-8.0),), {"module": lambda: nn.CELU(alpha=2.0)}),
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
    *by_rank("softshrink", lambda: nn.Softshrink(), _normal(1.0), {
        "lambda_1_5": (lambda g: (randn(g, 4, 33, std=3.0),), {"module": lambda: nn.Softshrink(1.5)}),
        "at_thresholds": lambda g: (with_edges(g, 53, scale=1.0, edges=(0.5, -0.5, 0.0, -0.0)),),
    }),
    *by_rank("tanhshrink", lambda: nn.Tanhshrink(), _normal(2.0), {
        "large": lambda g: (randn(g, 3, 40, std=50.0),),
    }),
    *op_cases("softmax", None, {
        "last_dim": (lambda g: (randn(g, 2, 16),), {"module": lambda: torch.nn.Softmax(dim=-1), "smoke": True}),
        "dim1_4d": (lambda g: (randn(g, 1, 8, 4, 4),), {"module": lambda: torch.nn.Softmax(dim=1)}),
        "large_logits": (lambda g: (randn(g, 4, 10, std=20.0),), {"module": lambda: torch.nn.Softmax(dim=-1)}),
        "rank1_prime": (lambda g: (randn(g, 37),), {"module": lambda: nn.Softmax(dim=0)}),
        "attention_scores": (lambda g: (randn(g, 1, 2, 8, 8, std=3.0),), {"module": lambda: nn.Softmax(dim=-1)}),
        "masked_neg_inf": (_masked, {"module": lambda: nn.Softmax(dim=-1), "float_only": True}),
    }),
    *op_cases("log_softmax", None, {
        "last_dim": (lambda g: (randn(g, 2, 16),), {"module": lambda: nn.LogSoftmax(dim=-1), "smoke": True}),
        "dim1_4d": (lambda g: (randn(g, 1, 8, 4, 4),), {"module": lambda: nn.LogSoftmax(dim=1)}),
        "large_logits": (lambda g: (randn(g, 4, 10, std=20.0),), {"module": lambda: nn.LogSoftmax(dim=-1)}),
        "rank1_prime": (lambda g: (randn(g, 23),), {"module": lambda: nn.LogSoftmax(dim=0)}),
        "vocab_1000": (lambda g: (randn(g, 2, 1000, std=2.0),), {"module": lambda: nn.LogSoftmax(dim=-1)}),
    }),
    *op_cases("softmin", lambda: nn.Softmin(dim=-1), {
        "last_dim": (lambda g: (randn(g, 2, 16, std=3.0),), {"smoke": True}),
        "first_dim": (lambda g: (randn(g, 5, 7),), {"module": lambda: nn.Softmin(dim=0)}),
        "1000_way": lambda g: (randn(g, 1, 1000, std=4.0),),
        "rank1": lambda g: (randn(g, 37),),
        "rank5_middle": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: nn.Softmin(dim=2)}),
        "rank6": lambda g: (randn(g, 1, 2, 2, 3, 2, 5),),
    }),
]
