"""Activations: relu, relu6, hardtanh, sigmoid, tanh, gelu.

Covers: values far beyond the clamp bounds (x10, x100), negatives and zeros, F.relu6 (aten.relu6)
after a convolution as well as nn.ReLU6 (aten.hardtanh), saturating
ranges for sigmoid and tanh, both GELU approximations, ranks 1 to 5.
Not yet: leaky_relu, hardswish, silu, elu (see the breadth issue), in-place variants.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges

F = torch.nn.functional

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
]
