"""Pooling: avg_pool2d and max_pool2d.

Covers: 2x2 and 3x3 windows, stride != kernel, padding, ceil_mode off, odd sizes,
a global average pool, negative-only inputs for max pooling.
Not yet: adaptive pooling (except global), pooling 1d/3d, count_include_pad=False.
"""

import torch

from etconform.cases import op_cases, randn

nn = torch.nn

CASES = [
    *op_cases("avg_pool2d", None, {
        "2x2": (lambda g: (randn(g, 1, 4, 8, 8),), {"module": lambda: nn.AvgPool2d(2), "smoke": True}),
        "3x3_stride1_pad1": (lambda g: (randn(g, 1, 3, 9, 9),), {"module": lambda: nn.AvgPool2d(3, 1, padding=1)}),
        "global_7x7": (lambda g: (randn(g, 1, 16, 7, 7, std=5.0),), {"module": lambda: nn.AvgPool2d(7)}),
    }),
    *op_cases("max_pool2d", None, {
        "2x2": (lambda g: (randn(g, 1, 4, 8, 8),), {"module": lambda: nn.MaxPool2d(2), "smoke": True}),
        "3x3_stride2_pad1": (lambda g: (randn(g, 1, 8, 15, 15),), {"module": lambda: nn.MaxPool2d(3, 2, padding=1)}),
        "negative_only": (lambda g: (-randn(g, 1, 2, 6, 6).abs(),), {"module": lambda: nn.MaxPool2d(2)}),
    }),
]
