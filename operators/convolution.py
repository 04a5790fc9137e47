"""Convolutions: conv1d, conv2d, conv3d, depthwise and grouped conv2d, transposed 1d, 2d and 3d.

Covers: 1x1, 3x3, 5x5 and 7x7 kernels, rectangular kernels, a kernel as large as the input,
stride 2, padding (symmetric, 'same', asymmetric through an explicit pad, reflect mode),
dilation, no bias, odd and prime spatial sizes, large magnitudes with zeros, batch 2,
channel multiplier > 1 for depthwise, groups 2 to 8; transposed convolutions with
stride 2, output_padding, padding, dilation and groups; conv_transpose3d with kernels cubic
and not, strides 1 and 2, padding, output_padding and groups (and no bias).
Not yet: circular padding mode, padding='same' with stride, int inputs.
"""

import torch

from etconform.cases import op_cases, randn, with_edges

nn = torch.nn
Conv1d, Conv2d, Conv3d = nn.Conv1d, nn.Conv2d, nn.Conv3d
ConvT1d, ConvT2d = nn.ConvTranspose1d, nn.ConvTranspose2d

CASES = [
    *op_cases("conv1d", None, {
        "k3": (lambda g: (randn(g, 1, 4, 32),), {"module": lambda: Conv1d(4, 8, 3), "smoke": True}),
        "k5_stride2_pad2": (lambda g: (randn(g, 1, 8, 31),), {"module": lambda: Conv1d(8, 16, 5, stride=2, padding=2)}),
        "k3_dilated4": (lambda g: (randn(g, 1, 6, 40, std=2.0),), {"module": lambda: Conv1d(6, 6, 3, dilation=4, padding=4)}),
        "depthwise_k7": (lambda g: (randn(g, 1, 12, 29),), {"module": lambda: Conv1d(12, 12, 7, groups=12, padding=3)}),
        "kernel_is_input": (lambda g: (randn(g, 1, 3, 9),), {"module": lambda: Conv1d(3, 5, 9)}),
    }),
    *op_cases("conv2d", None, {
        "3x3": (lambda g: (randn(g, 1, 3, 16, 16),), {"module": lambda: Conv2d(3, 8, 3), "smoke": True}),
        "3x3_stride2": (lambda g: (randn(g, 1, 4, 15, 15),), {"module": lambda: Conv2d(4, 8, 3, stride=2, padding=1)}),
        "1x1_nobias": (lambda g: (randn(g, 1, 16, 7, 7),), {"module": lambda: Conv2d(16, 24, 1, bias=False)}),
        "5x5_dilated": (lambda g: (randn(g, 1, 2, 19, 17, std=3.0),), {"module": lambda: Conv2d(2, 4, 5, dilation=2, padding=2)}),
        "rect_kernel_batch2": (lambda g: (randn(g, 2, 3, 12, 10),), {"module": lambda: Conv2d(3, 5, (1, 3), padding=(0, 1))}),
        "3x3_same": (lambda g: (randn(g, 1, 4, 11, 13),), {"module": lambda: Conv2d(4, 4, 3, padding="same")}),
        "3x3_stride2_pad_asymmetric": (lambda g: (randn(g, 1, 3, 12, 12),), {
            "module": lambda: nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), Conv2d(3, 8, 3, stride=2)),
        }),
        "3x3_reflect": (lambda g: (randn(g, 1, 3, 10, 10),), {"module": lambda: Conv2d(3, 6, 3, padding=1, padding_mode="reflect")}),
        "7x7_stride2_pad3": (lambda g: (randn(g, 1, 3, 23, 23),), {"module": lambda: Conv2d(3, 8, 7, stride=2, padding=3)}),
        "kernel_is_input": (lambda g: (randn(g, 1, 8, 5, 5),), {"module": lambda: Conv2d(8, 4, 5)}),
        "rect_stride_dilation": (lambda g: (randn(g, 1, 4, 14, 11),), {"module": lambda: Conv2d(4, 6, (3, 2), stride=(2, 1), dilation=(1, 2))}),
        "3x3_edges_large": (lambda g: (with_edges(g, 1, 2, 9, 9, scale=50.0),), {"module": lambda: Conv2d(2, 4, 3, padding=1)}),
    }),
    *op_cases("conv3d", None, {
        "k3": (lambda g: (randn(g, 1, 2, 6, 6, 6),), {"module": lambda: Conv3d(2, 4, 3), "smoke": True}),
        "k3_stride2_pad1": (lambda g: (randn(g, 1, 3, 7, 8, 8),), {"module": lambda: Conv3d(3, 4, 3, stride=2, padding=1)}),
        "k1x3x3_nobias": (lambda g: (randn(g, 1, 4, 3, 7, 7),), {"module": lambda: Conv3d(4, 4, (1, 3, 3), padding=(0, 1, 1), bias=False)}),
        "k1_batch2": (lambda g: (randn(g, 2, 8, 2, 3, 5),), {"module": lambda: Conv3d(8, 6, 1)}),
        "k2_depth1_input": (lambda g: (randn(g, 1, 3, 1, 9, 9),), {"module": lambda: Conv3d(3, 5, (1, 2, 2), stride=(1, 2, 2))}),
    }),
    *op_cases("depthwise_conv2d", None, {
        "3x3": (lambda g: (randn(g, 1, 8, 12, 12),), {"module": lambda: Conv2d(8, 8, 3, groups=8, padding=1), "smoke": True}),
        "3x3_stride2": (lambda g: (randn(g, 1, 16, 13, 13),), {"module": lambda: Conv2d(16, 16, 3, stride=2, groups=16)}),
        "multiplier2": (lambda g: (randn(g, 1, 4, 9, 9),), {"module": lambda: Conv2d(4, 8, 3, groups=4, padding=1)}),
        "5x5_nobias": (lambda g: (randn(g, 1, 6, 11, 11, std=2.0),), {"module": lambda: Conv2d(6, 6, 5, groups=6, bias=False)}),
        "3x3_dilated2": (lambda g: (randn(g, 1, 8, 10, 10),), {"module": lambda: Conv2d(8, 8, 3, groups=8, dilation=2, padding=2)}),
        "7x7_pad3": (lambda g: (randn(g, 1, 12, 9, 9),), {"module": lambda: Conv2d(12, 12, 7, groups=12, padding=3)}),
    }),
    *op_cases("grouped_conv2d", None, {
        "groups2_3x3": (lambda g: (randn(g, 1, 8, 10, 10),), {"module": lambda: Conv2d(8, 8, 3, groups=2, padding=1), "smoke": True}),
        "groups4_1x1": (lambda g: (randn(g, 1, 16, 7, 7),), {"module": lambda: Conv2d(16, 32, 1, groups=4)}),
        "groups4_dilated": (lambda g: (randn(g, 1, 8, 13, 13),), {"module": lambda: Conv2d(8, 12, 3, groups=4, dilation=2, padding=2)}),
        "groups8_stride2": (lambda g: (randn(g, 1, 16, 11, 11),), {"module": lambda: Conv2d(16, 16, 3, groups=8, stride=2)}),
        "groups2_nobias_batch2": (lambda g: (randn(g, 2, 6, 6, 9),), {"module": lambda: Conv2d(6, 4, (3, 1), groups=2, bias=False)}),
    }),
    *op_cases("conv_transpose1d", None, {
        "k3": (lambda g: (randn(g, 1, 4, 16),), {"module": lambda: ConvT1d(4, 8, 3), "smoke": True}),
        "k4_stride2_pad1": (lambda g: (randn(g, 1, 8, 15),), {"module": lambda: ConvT1d(8, 4, 4, stride=2, padding=1)}),
        "k3_stride2_output_padding1": (lambda g: (randn(g, 1, 6, 11),), {"module": lambda: ConvT1d(6, 6, 3, stride=2, padding=1, output_padding=1)}),
        "k2_stride2_nobias": (lambda g: (randn(g, 2, 8, 7),), {"module": lambda: ConvT1d(8, 8, 2, stride=2, bias=False)}),
        "k3_dilated2": (lambda g: (randn(g, 1, 4, 13),), {"module": lambda: ConvT1d(4, 4, 3, dilation=2)}),
    }),
    *op_cases("conv_transpose2d", None, {
        "3x3": (lambda g: (randn(g, 1, 4, 8, 8),), {"module": lambda: ConvT2d(4, 8, 3), "smoke": True}),
        "2x2_stride2": (lambda g: (randn(g, 1, 8, 7, 7),), {"module": lambda: ConvT2d(8, 4, 2, stride=2)}),
        "3x3_stride2_output_padding1": (lambda g: (randn(g, 1, 6, 7, 9),), {
            "module": lambda: ConvT2d(6, 6, 3, stride=2, padding=1, output_padding=1),
        }),
        "4x4_stride2_pad1": (lambda g: (randn(g, 1, 16, 5, 5),), {"module": lambda: ConvT2d(16, 8, 4, stride=2, padding=1)}),
        "3x3_groups2_nobias": (lambda g: (randn(g, 1, 8, 6, 6),), {"module": lambda: ConvT2d(8, 8, 3, groups=2, padding=1, bias=False)}),
        "3x3_dilated2_batch2": (lambda g: (randn(g, 2, 3, 6, 5),), {"module": lambda: ConvT2d(3, 4, 3, dilation=2)}),
    }),
    *op_cases("conv_transpose3d", lambda: nn.ConvTranspose3d(4, 6, 3), {
        "3x3x3": (lambda g: (randn(g, 1, 4, 4, 5, 5),), {"smoke": True}),
        "stride2_pad1_outpad1": (lambda g: (randn(g, 1, 4, 3, 4, 4),), {"module": lambda: nn.ConvTranspose3d(
            4, 4, 3, stride=2, padding=1, output_padding=1)}),
        "kernel_1x2x2_groups2_no_bias": (lambda g: (randn(g, 2, 4, 2, 3, 3),), {"module": lambda: nn.ConvTranspose3d(
            4, 6, (1, 2, 2), stride=(1, 2, 2), groups=2, bias=False)}),
        "dilation2": (lambda g: (randn(g, 1, 4, 3, 3, 3),), {"module": lambda: nn.ConvTranspose3d(4, 2, 2, dilation=2)}),
    }),
]
