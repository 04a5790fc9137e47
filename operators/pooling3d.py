"""Volumes and the remaining adaptive pools: conv_transpose3d, avg_pool3d, max_pool3d,
adaptive_avg_pool3d, adaptive_max_pool3d, adaptive_max_pool1d.

Covers: kernels cubic and not, strides 1 and 2, padding, output_padding and groups for the
transposed convolution (and no bias), ceil_mode, count_include_pad left at its default and
turned off, divisor_override, dilation for max pooling, global and non-dividing adaptive
output sizes, return_indices left out, batch 2.
Not yet: max_unpool3d, fractional pooling.
"""

import torch

from etconform.cases import op_cases, randn

nn = torch.nn

CASES = [
    *op_cases("conv_transpose3d", lambda: nn.ConvTranspose3d(4, 6, 3), {
        "3x3x3": (lambda g: (randn(g, 1, 4, 4, 5, 5),), {"smoke": True}),
        "stride2_pad1_outpad1": (lambda g: (randn(g, 1, 4, 3, 4, 4),), {"module": lambda: nn.ConvTranspose3d(
            4, 4, 3, stride=2, padding=1, output_padding=1)}),
        "kernel_1x2x2_groups2_no_bias": (lambda g: (randn(g, 2, 4, 2, 3, 3),), {"module": lambda: nn.ConvTranspose3d(
            4, 6, (1, 2, 2), stride=(1, 2, 2), groups=2, bias=False)}),
        "dilation2": (lambda g: (randn(g, 1, 4, 3, 3, 3),), {"module": lambda: nn.ConvTranspose3d(4, 2, 2, dilation=2)}),
    }),
    *op_cases("avg_pool3d", lambda: nn.AvgPool3d(2), {
        "2x2x2": (lambda g: (randn(g, 1, 3, 4, 8, 8),), {"smoke": True}),
        "3x3x3_stride1_pad1": (lambda g: (randn(g, 1, 2, 5, 6, 6),), {"module": lambda: nn.AvgPool3d(3, stride=1, padding=1)}),
        "exclude_pad_ceil": (lambda g: (randn(g, 2, 2, 5, 7, 7),), {"module": lambda: nn.AvgPool3d(
            2, stride=2, padding=1, ceil_mode=True, count_include_pad=False)}),
        "divisor_override": (lambda g: (randn(g, 1, 2, 4, 4, 4),), {"module": lambda: nn.AvgPool3d(2, divisor_override=3)}),
        "rect_1x2x2": (lambda g: (randn(g, 1, 3, 3, 8, 6),), {"module": lambda: nn.AvgPool3d((1, 2, 2))}),
    }),
    *op_cases("max_pool3d", lambda: nn.MaxPool3d(2), {
        "2x2x2": (lambda g: (randn(g, 1, 3, 4, 8, 8),), {"smoke": True}),
        "3x3x3_stride2_pad1": (lambda g: (randn(g, 1, 2, 5, 7, 7),), {"module": lambda: nn.MaxPool3d(3, stride=2, padding=1)}),
        "ceil_mode": (lambda g: (randn(g, 2, 2, 5, 5, 5),), {"module": lambda: nn.MaxPool3d(2, ceil_mode=True)}),
        "dilation2": (lambda g: (randn(g, 1, 2, 6, 6, 6),), {"module": lambda: nn.MaxPool3d(2, dilation=2)}),
        "rect_1x3x3": (lambda g: (randn(g, 1, 3, 3, 9, 9),), {"module": lambda: nn.MaxPool3d((1, 3, 3))}),
    }),
    *op_cases("adaptive_avg_pool3d", lambda: nn.AdaptiveAvgPool3d(1), {
        "global": (lambda g: (randn(g, 1, 4, 4, 6, 6),), {"smoke": True}),
        "to_2x2x2": (lambda g: (randn(g, 1, 3, 4, 8, 8),), {"module": lambda: nn.AdaptiveAvgPool3d(2)}),
        "non_dividing_1x3x3_from_5x7x7": (lambda g: (randn(g, 2, 2, 5, 7, 7),), {"module": lambda: nn.AdaptiveAvgPool3d((1, 3, 3))}),
    }),
    *op_cases("adaptive_max_pool3d", lambda: nn.AdaptiveMaxPool3d(1), {
        "global": (lambda g: (randn(g, 1, 4, 4, 6, 6),), {"smoke": True}),
        "to_2x2x2": (lambda g: (randn(g, 1, 3, 4, 8, 8),), {"module": lambda: nn.AdaptiveMaxPool3d(2)}),
        "non_dividing_1x3x3_from_5x7x7": (lambda g: (randn(g, 2, 2, 5, 7, 7),), {"module": lambda: nn.AdaptiveMaxPool3d((1, 3, 3))}),
    }),
    *op_cases("adaptive_max_pool1d", lambda: nn.AdaptiveMaxPool1d(1), {
        "global": (lambda g: (randn(g, 1, 8, 16),), {"smoke": True}),
        "to_4_from_16": (lambda g: (randn(g, 2, 4, 16),), {"module": lambda: nn.AdaptiveMaxPool1d(4)}),
        "to_5_from_13": (lambda g: (randn(g, 1, 3, 13),), {"module": lambda: nn.AdaptiveMaxPool1d(5)}),
        "rank2_no_batch": (lambda g: (randn(g, 6, 20),), {"module": lambda: nn.AdaptiveMaxPool1d(4)}),
    }),
]
