"""Shape and layout: cat, reshape, permute.

Covers: cat along each kind of axis with inputs of different ranges (so their
quantization differs), three inputs; reshape that flattens, splits and changes rank;
permute to NHWC and a full reversal.
Not yet: slice, gather, pad, split, expand, view_as, squeeze (see the breadth issue).
"""

import torch

from etconform.cases import Lambda, op_cases, randn

CASES = [
    *op_cases("cat", None, {
        "channels": (lambda g: (randn(g, 1, 3, 4, 4), randn(g, 1, 5, 4, 4)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 1)), "smoke": True}),
        "last_dim_ranges_differ": (lambda g: (randn(g, 2, 8), randn(g, 2, 8, std=10.0)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), -1))}),
        "three_inputs_dim0": (lambda g: (randn(g, 1, 6), randn(g, 2, 6), randn(g, 3, 6)), {"module": lambda: Lambda(lambda x, y, z: torch.cat((x, y, z), 0))}),
    }),
    *op_cases("reshape", None, {
        "flatten": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": lambda: Lambda(lambda x: x.reshape(1, -1)), "smoke": True}),
        "split_dim": (lambda g: (randn(g, 2, 24),), {"module": lambda: Lambda(lambda x: x.reshape(2, 4, 6))}),
        "rank5": (lambda g: (randn(g, 4, 30),), {"module": lambda: Lambda(lambda x: x.reshape(1, 2, 2, 5, 6))}),
    }),
    *op_cases("permute", None, {
        "nchw_to_nhwc": (lambda g: (randn(g, 1, 3, 5, 7),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1)), "smoke": True}),
        "reverse_3d": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.permute(2, 1, 0))}),
        "swap_last_two_4d": (lambda g: (randn(g, 1, 2, 6, 9),), {"module": lambda: Lambda(lambda x: x.permute(0, 1, 3, 2))}),
    }),
]
