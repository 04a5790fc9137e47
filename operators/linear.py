"""Linear layers: a constant weight times an activation, plus an optional bias.

Covers: rank 1 to 4 inputs (a single vector, a batch, tokens, a feature map's last dim),
no bias, a single output feature and a single input feature, prime sizes, a large
in-features contraction, large magnitudes with zeros.
Not yet: rank 5 inputs, weights with outliers, int inputs. Matrix products of two
activations (matmul, bmm, addmm, ...) are in matmul.py.
"""

import torch

from etconform.cases import op_cases, randn, with_edges

Linear = torch.nn.Linear

CASES = op_cases("linear", None, {
    "2d": (lambda g: (randn(g, 4, 32),), {"module": lambda: Linear(32, 16), "smoke": True}),
    "3d_tokens": (lambda g: (randn(g, 1, 10, 64),), {"module": lambda: Linear(64, 48)}),
    "nobias_prime": (lambda g: (randn(g, 7, 13),), {"module": lambda: Linear(13, 11, bias=False)}),
    "one_output_large": (lambda g: (randn(g, 3, 20, std=50.0),), {"module": lambda: Linear(20, 1)}),
    "rank1": (lambda g: (randn(g, 24),), {"module": lambda: Linear(24, 10)}),
    "rank4": (lambda g: (randn(g, 1, 3, 5, 16),), {"module": lambda: Linear(16, 8)}),
    "large_in_features": (lambda g: (randn(g, 2, 1024),), {"module": lambda: Linear(1024, 8)}),
    "one_input_feature": (lambda g: (randn(g, 6, 1, std=3.0),), {"module": lambda: Linear(1, 12)}),
    "edges_large": (lambda g: (with_edges(g, 5, 17, scale=100.0),), {"module": lambda: Linear(17, 9)}),
})
