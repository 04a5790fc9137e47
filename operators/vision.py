"""Vision layers: upsample_nearest2d, upsample_bilinear2d, upsample_nearest1d, upsample_linear1d,
pixel_shuffle, pixel_unshuffle, grid_sample.

Covers: integer scale factors (2, 3, a different one per axis), output sizes that are not
a multiple of the input (non-integer ratios), down-scaling (output smaller than input),
bilinear with align_corners True and False, singleton spatial dims, large magnitudes, a
resize between two compute ops (`between_mul_add`) and after a convolution (a decoder);
pixel_shuffle and pixel_unshuffle by 2 and 3 (odd sizes), batch 2, a round trip; grid_sample
bilinear and nearest, zeros and border padding, align_corners both ways.
Not yet: bicubic, trilinear and nearest 3-D, antialiased down-scaling, nearest-exact,
recompute_scale_factor, dynamic output sizes, grid_sample in 3-D and bicubic.
"""

import torch
import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators._shapes import between_mul_add


def resize(**kwargs):
    """A module factory: F.interpolate with these arguments."""
    return lambda: Lambda(lambda x: F.interpolate(x, **kwargs))


CASES = [
    *op_cases("upsample_nearest2d", None, {
        "scale2": (lambda g: (randn(g, 1, 3, 5, 5),), {"module": resize(scale_factor=2, mode="nearest"), "smoke": True}),
        "scale3_odd": (lambda g: (randn(g, 1, 2, 3, 7),), {"module": resize(scale_factor=3, mode="nearest")}),
        "scale_per_axis": (lambda g: (randn(g, 1, 4, 4, 6),), {"module": resize(scale_factor=(2, 1), mode="nearest")}),
        "to_size_non_integer": (lambda g: (randn(g, 1, 3, 4, 5),), {"module": resize(size=(7, 9), mode="nearest")}),
        "down_to_size": (lambda g: (randn(g, 1, 3, 12, 10),), {"module": resize(size=(5, 4), mode="nearest")}),
        "singleton_to_4x4": (lambda g: (randn(g, 2, 8, 1, 1),), {"module": resize(size=(4, 4), mode="nearest")}),
        "large_values": (lambda g: (with_edges(g, 1, 2, 4, 4, scale=1000.0),), {"module": resize(scale_factor=2, mode="nearest")}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 3),),
                            {"module": between_mul_add(lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))}),
        "after_conv": (lambda g: (randn(g, 1, 3, 6, 6),),
                       {"module": lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Upsample(scale_factor=2))}),
    }),
    *op_cases("upsample_bilinear2d", None, {
        "scale2": (lambda g: (randn(g, 1, 3, 5, 5),), {"module": resize(scale_factor=2, mode="bilinear"), "smoke": True}),
        "scale2_align_corners": (lambda g: (randn(g, 1, 3, 5, 5),), {"module": resize(scale_factor=2, mode="bilinear", align_corners=True)}),
        "to_size_non_integer": (lambda g: (randn(g, 1, 2, 4, 6),), {"module": resize(size=(7, 11), mode="bilinear")}),
        "to_size_non_integer_align_corners": (lambda g: (randn(g, 1, 2, 4, 6),),
                                              {"module": resize(size=(7, 11), mode="bilinear", align_corners=True)}),
        "down_to_size": (lambda g: (randn(g, 1, 3, 12, 9),), {"module": resize(size=(6, 4), mode="bilinear")}),
        "down_align_corners": (lambda g: (randn(g, 1, 2, 9, 9),), {"module": resize(size=(5, 5), mode="bilinear", align_corners=True)}),
        "scale4_batch2": (lambda g: (randn(g, 2, 2, 3, 4),), {"module": resize(scale_factor=4, mode="bilinear")}),
        "singleton_row": (lambda g: (randn(g, 1, 3, 1, 6),), {"module": resize(size=(3, 12), mode="bilinear")}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 4, 4),),
                            {"module": between_mul_add(lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"))}),
    }),
    *op_cases("upsample_nearest1d", None, {
        "scale2": (lambda g: (randn(g, 1, 4, 9),), {"module": resize(scale_factor=2, mode="nearest"), "smoke": True}),
        "to_size_non_integer": (lambda g: (randn(g, 2, 3, 5),), {"module": resize(size=13, mode="nearest")}),
        "down_to_size": (lambda g: (randn(g, 1, 2, 20),), {"module": resize(size=7, mode="nearest")}),
        "scale3_large_values": (lambda g: (with_edges(g, 1, 3, 8, scale=500.0),), {"module": resize(scale_factor=3, mode="nearest")}),
        "between_mul_add": (lambda g: (randn(g, 1, 6, 8),), {"module": between_mul_add(lambda x: F.interpolate(x, scale_factor=2, mode="nearest"))}),
    }),
    *op_cases("upsample_linear1d", None, {
        "scale2": (lambda g: (randn(g, 1, 4, 9),), {"module": resize(scale_factor=2, mode="linear"), "smoke": True}),
        "scale2_align_corners": (lambda g: (randn(g, 1, 4, 9),), {"module": resize(scale_factor=2, mode="linear", align_corners=True)}),
        "to_size_non_integer": (lambda g: (randn(g, 2, 3, 5),), {"module": resize(size=12, mode="linear")}),
        "down_to_size": (lambda g: (randn(g, 1, 2, 16),), {"module": resize(size=6, mode="linear")}),
    }),
    *op_cases("pixel_shuffle", None, {
        "r2": (lambda g: (randn(g, 1, 4, 4, 4),), {"module": lambda: torch.nn.PixelShuffle(2), "smoke": True}),
        "r3_odd": (lambda g: (randn(g, 1, 9, 3, 5),), {"module": lambda: torch.nn.PixelShuffle(3)}),
        "r2_several_out_channels": (lambda g: (randn(g, 2, 12, 5, 3),), {"module": lambda: torch.nn.PixelShuffle(2)}),
        "large_values": (lambda g: (with_edges(g, 1, 8, 3, 3, scale=500.0),), {"module": lambda: torch.nn.PixelShuffle(2)}),
        "between_mul_add": (lambda g: (randn(g, 1, 8, 4, 4),), {"module": between_mul_add(lambda x: F.pixel_shuffle(x, 2))}),
    }),
    *op_cases("pixel_unshuffle", None, {
        "r2": (lambda g: (randn(g, 1, 2, 8, 8),), {"module": lambda: torch.nn.PixelUnshuffle(2), "smoke": True}),
        "r3_odd": (lambda g: (randn(g, 1, 3, 9, 6),), {"module": lambda: torch.nn.PixelUnshuffle(3)}),
        "batch2": (lambda g: (randn(g, 2, 1, 6, 10),), {"module": lambda: torch.nn.PixelUnshuffle(2)}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 4, 6),), {"module": between_mul_add(lambda x: F.pixel_unshuffle(x, 2))}),
        "round_trip": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: Lambda(lambda x: F.pixel_shuffle(F.pixel_unshuffle(x, 3), 3))}),
    }),
    *op_cases("grid_sample", lambda: Lambda(F.grid_sample), {
        "bilinear_default": (lambda g: (randn(g, 1, 3, 8, 8), uniform(g, 1, 5, 5, 2)), {"smoke": True}),
        "nearest": (lambda g: (randn(g, 1, 3, 8, 8), uniform(g, 1, 5, 5, 2)), {"module": lambda: Lambda(
            lambda x, grid: F.grid_sample(x, grid, mode="nearest", align_corners=False))}),
        "border_align_corners": (lambda g: (randn(g, 1, 2, 6, 9), uniform(g, 1, 4, 7, 2, low=-1.3, high=1.3)),
                                 {"module": lambda: Lambda(lambda x, grid: F.grid_sample(x, grid, padding_mode="border", align_corners=True))}),
        "zeros_outside": (lambda g: (randn(g, 2, 2, 6, 6), uniform(g, 2, 6, 6, 2, low=-1.5, high=1.5)), {"module": lambda: Lambda(
            lambda x, grid: F.grid_sample(x, grid, padding_mode="zeros", align_corners=False))}),
        "identity_grid": (lambda g: (randn(g, 1, 1, 5, 5),), {"module": lambda: Lambda(lambda x: F.grid_sample(
            x, F.affine_grid(torch.eye(2, 3).unsqueeze(0), [1, 1, 5, 5], align_corners=False), align_corners=False))}),
    }),
]
