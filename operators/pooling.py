"""Pooling: average, max and power-average pooling in 1d, 2d and 3d, fixed and adaptive.

Covers: 2x2 and 3x3 windows, rectangular windows, stride != kernel, padding with and
without count_include_pad, ceil_mode on and off, dilation (max pooling), odd and prime
sizes, a window as large as the input (global pooling), negative-only and large inputs;
adaptive pooling to 1x1, to sizes that divide the input and to sizes that do not
(overlapping windows), to rectangular outputs; lp_pool2d with p = 1, 2, 3; 3d pooling with
kernels cubic and not, strides 1 and 2, padding, ceil_mode, count_include_pad left at its
default and turned off, divisor_override, dilation for max pooling, global and non-dividing
adaptive output sizes, return_indices left out, batch 2; adaptive_max_pool1d.
Not yet: divisor_override in 1d and 2d, max pooling indices (return_indices), max_unpool3d,
fractional pooling.
"""

import torch

from etconform.cases import op_cases, randn, uniform, with_edges

nn = torch.nn

CASES = [
    *op_cases("avg_pool2d", None, {
        "2x2": (lambda g: (randn(g, 1, 4, 8, 8),), {"module": lambda: nn.AvgPool2d(2), "smoke": True}),
        "3x3_stride1_pad1": (lambda g: (randn(g, 1, 3, 9, 9),), {"module": lambda: nn.AvgPool2d(3, 1, padding=1)}),
        "global_7x7": (lambda g: (randn(g, 1, 16, 7, 7, std=5.0),), {"module": lambda: nn.AvgPool2d(7)}),
        "3x3_pad1_exclude_pad": (lambda g: (randn(g, 1, 4, 9, 9, mean=2.0),), {
            "module": lambda: nn.AvgPool2d(3, 1, padding=1, count_include_pad=False),
        }),
        "3x3_stride2_ceil": (lambda g: (randn(g, 1, 4, 10, 10),), {"module": lambda: nn.AvgPool2d(3, 2, ceil_mode=True)}),
        "2x2_stride2_pad1_ceil_exclude_pad": (lambda g: (randn(g, 1, 3, 7, 7),), {
            "module": lambda: nn.AvgPool2d(2, 2, padding=1, ceil_mode=True, count_include_pad=False),
        }),
        "rect_2x3_batch2": (lambda g: (randn(g, 2, 3, 8, 9),), {"module": lambda: nn.AvgPool2d((2, 3))}),
    }),
    *op_cases("max_pool2d", None, {
        "2x2": (lambda g: (randn(g, 1, 4, 8, 8),), {"module": lambda: nn.MaxPool2d(2), "smoke": True}),
        "3x3_stride2_pad1": (lambda g: (randn(g, 1, 8, 15, 15),), {"module": lambda: nn.MaxPool2d(3, 2, padding=1)}),
        "negative_only": (lambda g: (-randn(g, 1, 2, 6, 6).abs(),), {"module": lambda: nn.MaxPool2d(2)}),
        "3x3_dilated2": (lambda g: (randn(g, 1, 4, 11, 11),), {"module": lambda: nn.MaxPool2d(3, 1, dilation=2)}),
        "3x3_stride2_ceil": (lambda g: (randn(g, 1, 4, 10, 10),), {"module": lambda: nn.MaxPool2d(3, 2, ceil_mode=True)}),
        "rect_2x3_stride_1x2": (lambda g: (randn(g, 2, 3, 7, 12),), {"module": lambda: nn.MaxPool2d((2, 3), (1, 2))}),
        "edges_large": (lambda g: (with_edges(g, 1, 3, 8, 8, scale=100.0),), {"module": lambda: nn.MaxPool2d(2)}),
    }),
    *op_cases("adaptive_avg_pool2d", None, {
        "to_1x1": (lambda g: (randn(g, 1, 16, 7, 7),), {"module": lambda: nn.AdaptiveAvgPool2d(1), "smoke": True}),
        "to_2x2": (lambda g: (randn(g, 1, 8, 8, 8),), {"module": lambda: nn.AdaptiveAvgPool2d(2)}),
        "to_3x3_from_7x7": (lambda g: (randn(g, 1, 4, 7, 7),), {"module": lambda: nn.AdaptiveAvgPool2d(3)}),
        "to_7x7_from_14x14": (lambda g: (randn(g, 1, 2, 14, 14),), {"module": lambda: nn.AdaptiveAvgPool2d(7)}),
        "to_rect_1x4_batch2": (lambda g: (randn(g, 2, 3, 6, 8),), {"module": lambda: nn.AdaptiveAvgPool2d((1, 4))}),
    }),
    *op_cases("adaptive_max_pool2d", None, {
        "to_1x1": (lambda g: (randn(g, 1, 16, 7, 7),), {"module": lambda: nn.AdaptiveMaxPool2d(1), "smoke": True}),
        "to_2x2": (lambda g: (randn(g, 1, 8, 8, 8),), {"module": lambda: nn.AdaptiveMaxPool2d(2)}),
        "to_3x3_from_7x7": (lambda g: (randn(g, 1, 4, 7, 7),), {"module": lambda: nn.AdaptiveMaxPool2d(3)}),
        "to_rect_4x1": (lambda g: (randn(g, 1, 3, 8, 6),), {"module": lambda: nn.AdaptiveMaxPool2d((4, 1))}),
        "negative_only": (lambda g: (-randn(g, 1, 4, 6, 6).abs(),), {"module": lambda: nn.AdaptiveMaxPool2d(2)}),
    }),
    *op_cases("avg_pool1d", None, {
        "k2": (lambda g: (randn(g, 1, 4, 16),), {"module": lambda: nn.AvgPool1d(2), "smoke": True}),
        "k3_stride1_pad1": (lambda g: (randn(g, 1, 8, 13),), {"module": lambda: nn.AvgPool1d(3, 1, padding=1)}),
        "k3_stride2_ceil_exclude_pad": (lambda g: (randn(g, 2, 4, 12),), {
            "module": lambda: nn.AvgPool1d(3, 2, padding=1, ceil_mode=True, count_include_pad=False),
        }),
        "global_k17": (lambda g: (randn(g, 1, 6, 17, std=4.0),), {"module": lambda: nn.AvgPool1d(17)}),
    }),
    *op_cases("max_pool1d", None, {
        "k2": (lambda g: (randn(g, 1, 4, 16),), {"module": lambda: nn.MaxPool1d(2), "smoke": True}),
        "k3_stride2_pad1": (lambda g: (randn(g, 1, 8, 19),), {"module": lambda: nn.MaxPool1d(3, 2, padding=1)}),
        "k3_dilated3": (lambda g: (randn(g, 1, 4, 23),), {"module": lambda: nn.MaxPool1d(3, 1, dilation=3)}),
        "k2_ceil_batch2": (lambda g: (randn(g, 2, 3, 11),), {"module": lambda: nn.MaxPool1d(2, ceil_mode=True)}),
    }),
    *op_cases("adaptive_avg_pool1d", None, {
        "to_1": (lambda g: (randn(g, 1, 8, 20),), {"module": lambda: nn.AdaptiveAvgPool1d(1), "smoke": True}),
        "to_4_from_16": (lambda g: (randn(g, 1, 4, 16),), {"module": lambda: nn.AdaptiveAvgPool1d(4)}),
        "to_5_from_13": (lambda g: (randn(g, 2, 3, 13),), {"module": lambda: nn.AdaptiveAvgPool1d(5)}),
        "to_8_from_8": (lambda g: (randn(g, 1, 6, 8, std=3.0),), {"module": lambda: nn.AdaptiveAvgPool1d(8)}),
    }),
    *op_cases("adaptive_max_pool1d", lambda: nn.AdaptiveMaxPool1d(1), {
        "global": (lambda g: (randn(g, 1, 8, 16),), {"smoke": True}),
        "to_4_from_16": (lambda g: (randn(g, 2, 4, 16),), {"module": lambda: nn.AdaptiveMaxPool1d(4)}),
        "to_5_from_13": (lambda g: (randn(g, 1, 3, 13),), {"module": lambda: nn.AdaptiveMaxPool1d(5)}),
        "rank2_no_batch": (lambda g: (randn(g, 6, 20),), {"module": lambda: nn.AdaptiveMaxPool1d(4)}),
    }),
    *op_cases("lp_pool2d", None, {
        "p2_2x2": (lambda g: (uniform(g, 1, 4, 8, 8, low=0.0, high=2.0),), {"module": lambda: nn.LPPool2d(2, 2), "smoke": True}),
        "p2_3x3_stride2_signed": (lambda g: (randn(g, 1, 4, 9, 9),), {"module": lambda: nn.LPPool2d(2, 3, stride=2)}),
        "p1_2x2": (lambda g: (uniform(g, 1, 3, 6, 6, low=0.0, high=4.0),), {"module": lambda: nn.LPPool2d(1, 2)}),
        "p3_rect_2x3": (lambda g: (uniform(g, 1, 2, 6, 9, low=0.1, high=1.5),), {"module": lambda: nn.LPPool2d(3, (2, 3))}),
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
]
