"""Shape and layout: cat, reshape, permute.

Covers: cat along each kind of axis with inputs of different ranges (so their
quantization differs), three inputs, the same input twice, ranks 1 and 5, a singleton
dim; reshape that flattens, splits, changes rank, adds and drops singleton dims; permute
to NHWC and back, a full reversal, ranks 2 and 5, negative dims; each also between two
compute ops (`between_mul_add`).
The other layout ops are in layout.py, slicing, gathering and padding in indexing.py,
resizing in resize.py.
Not yet: cat of inputs with integer dtypes, cat with an empty input, view_as.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges
from operators.layout import between_mul_add

CASES = [
    *op_cases("cat", None, {
        "channels": (lambda g: (randn(g, 1, 3, 4, 4), randn(g, 1, 5, 4, 4)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 1)), "smoke": True}),
        "last_dim_ranges_differ": (lambda g: (randn(g, 2, 8), randn(g, 2, 8, std=10.0)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), -1))}),
        "three_inputs_dim0": (lambda g: (randn(g, 1, 6), randn(g, 2, 6), randn(g, 3, 6)), {"module": lambda: Lambda(lambda x, y, z: torch.cat((x, y, z), 0))}),
        "same_input_twice": (lambda g: (randn(g, 2, 3, 5),), {"module": lambda: Lambda(lambda x: torch.cat((x, x), 1))}),
        "rank1_prime": (lambda g: (randn(g, 7), randn(g, 13)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y)))}),
        "rank5_negative_dim": (lambda g: (randn(g, 1, 2, 3, 2, 4), randn(g, 1, 2, 3, 2, 3)),
                               {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), -1))}),
        "singleton_dim": (lambda g: (randn(g, 4, 1, 6), randn(g, 4, 1, 6)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 1))}),
        "large_and_small": (lambda g: (with_edges(g, 3, 8, scale=1000.0), randn(g, 3, 8, std=0.01)),
                            {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 0))}),
        "between_mul_add": (lambda g: (randn(g, 1, 2, 4, 4),), {"module": between_mul_add(lambda x: torch.cat((x, x * 3), 1))}),
    }),
    *op_cases("reshape", None, {
        "flatten": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": lambda: Lambda(lambda x: x.reshape(1, -1)), "smoke": True}),
        "split_dim": (lambda g: (randn(g, 2, 24),), {"module": lambda: Lambda(lambda x: x.reshape(2, 4, 6))}),
        "rank5": (lambda g: (randn(g, 4, 30),), {"module": lambda: Lambda(lambda x: x.reshape(1, 2, 2, 5, 6))}),
        "rank1_prime_to_2d": (lambda g: (randn(g, 91),), {"module": lambda: Lambda(lambda x: x.reshape(7, 13))}),
        "add_singletons": (lambda g: (randn(g, 3, 8),), {"module": lambda: Lambda(lambda x: x.reshape(1, 3, 1, 8, 1))}),
        "drop_singletons": (lambda g: (randn(g, 1, 5, 1, 7),), {"module": lambda: Lambda(lambda x: x.reshape(5, 7))}),
        "infer_middle": (lambda g: (randn(g, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.reshape(2, -1, 5))}),
        "between_mul_add": (lambda g: (randn(g, 1, 6, 4, 4),), {"module": between_mul_add(lambda x: x.reshape(1, 6, 16))}),
    }),
    *op_cases("permute", None, {
        "nchw_to_nhwc": (lambda g: (randn(g, 1, 3, 5, 7),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1)), "smoke": True}),
        "reverse_3d": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.permute(2, 1, 0))}),
        "swap_last_two_4d": (lambda g: (randn(g, 1, 2, 6, 9),), {"module": lambda: Lambda(lambda x: x.permute(0, 1, 3, 2))}),
        "nhwc_to_nchw": (lambda g: (randn(g, 1, 5, 7, 3),), {"module": lambda: Lambda(lambda x: x.permute(0, 3, 1, 2))}),
        "rank2": (lambda g: (randn(g, 6, 11),), {"module": lambda: Lambda(lambda x: x.permute(1, 0))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.permute(0, 3, 1, 4, 2))}),
        "negative_dims": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.permute(-1, -3, -2))}),
        "batch2_large": (lambda g: (with_edges(g, 2, 3, 4, 4, scale=500.0),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 5),), {"module": between_mul_add(lambda x: x.permute(0, 2, 3, 1))}),
    }),
]
