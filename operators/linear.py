"""Matrix products: linear.

Covers: rank 2 and 3 inputs (batch of tokens), no bias, a single output feature,
prime sizes, large magnitudes.
Not yet: matmul, bmm, addmm as their own operators.
"""

import torch

from etconform.cases import op_cases, randn

Linear = torch.nn.Linear

CASES = op_cases("linear", None, {
    "2d": (lambda g: (randn(g, 4, 32),), {"module": lambda: Linear(32, 16), "smoke": True}),
    "3d_tokens": (lambda g: (randn(g, 1, 10, 64),), {"module": lambda: Linear(64, 48)}),
    "nobias_prime": (lambda g: (randn(g, 7, 13),), {"module": lambda: Linear(13, 11, bias=False)}),
    "one_output_large": (lambda g: (randn(g, 3, 20, std=50.0),), {"module": lambda: Linear(20, 1)}),
})
