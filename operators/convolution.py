"""Convolutions: conv2d and depthwise conv2d.

Covers: 1x1 and 3x3 kernels, stride 2, padding, dilation, no bias, odd spatial sizes,
channel multiplier > 1 for depthwise.
Not yet: conv1d, conv3d, transposed and grouped (non-depthwise) convolutions.
"""

import torch

from etconform.cases import op_cases, randn

Conv2d = torch.nn.Conv2d

CASES = [
    *op_cases("conv2d", None, {
        "3x3": (lambda g: (randn(g, 1, 3, 16, 16),), {"module": lambda: Conv2d(3, 8, 3), "smoke": True}),
        "3x3_stride2": (lambda g: (randn(g, 1, 4, 15, 15),), {"module": lambda: Conv2d(4, 8, 3, stride=2, padding=1)}),
        "1x1_nobias": (lambda g: (randn(g, 1, 16, 7, 7),), {"module": lambda: Conv2d(16, 24, 1, bias=False)}),
        "5x5_dilated": (lambda g: (randn(g, 1, 2, 19, 17, std=3.0),), {"module": lambda: Conv2d(2, 4, 5, dilation=2, padding=2)}),
        "rect_kernel_batch2": (lambda g: (randn(g, 2, 3, 12, 10),), {"module": lambda: Conv2d(3, 5, (1, 3), padding=(0, 1))}),
    }),
    *op_cases("depthwise_conv2d", None, {
        "3x3": (lambda g: (randn(g, 1, 8, 12, 12),), {"module": lambda: Conv2d(8, 8, 3, groups=8, padding=1), "smoke": True}),
        "3x3_stride2": (lambda g: (randn(g, 1, 16, 13, 13),), {"module": lambda: Conv2d(16, 16, 3, stride=2, groups=16)}),
        "multiplier2": (lambda g: (randn(g, 1, 4, 9, 9),), {"module": lambda: Conv2d(4, 8, 3, groups=4, padding=1)}),
        "5x5_nobias": (lambda g: (randn(g, 1, 6, 11, 11, std=2.0),), {"module": lambda: Conv2d(6, 6, 5, groups=6, bias=False)}),
    }),
]
