"""Normalisation and softmax: layer_norm, batch_norm, softmax.

Covers: layer norm over the last one and two dims, with and without affine weights;
batch norm in eval mode with non-trivial running statistics; softmax over each axis,
with large logits.
Not yet: group_norm, instance_norm, log_softmax, rms_norm.
"""

import torch

from etconform.cases import op_cases, randn


def _batch_norm(channels: int) -> torch.nn.Module:
    bn = torch.nn.BatchNorm2d(channels)
    with torch.no_grad():  # running stats that are not the identity, so the op does something
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return bn


CASES = [
    *op_cases("layer_norm", None, {
        "last_dim": (lambda g: (randn(g, 2, 8, 32),), {"module": lambda: torch.nn.LayerNorm(32), "smoke": True}),
        "last_two_dims": (lambda g: (randn(g, 1, 4, 6, 8, std=3.0),), {"module": lambda: torch.nn.LayerNorm([6, 8])}),
        "no_affine_offset": (lambda g: (randn(g, 5, 16, mean=10.0),), {"module": lambda: torch.nn.LayerNorm(16, elementwise_affine=False)}),
    }),
    *op_cases("batch_norm", None, {
        "4d": (lambda g: (randn(g, 1, 8, 6, 6),), {"module": lambda: _batch_norm(8), "smoke": True}),
        "batch2_odd": (lambda g: (randn(g, 2, 3, 7, 5, std=2.0),), {"module": lambda: _batch_norm(3)}),
        "wide": (lambda g: (randn(g, 1, 32, 4, 4, mean=1.0),), {"module": lambda: _batch_norm(32)}),
    }),
    *op_cases("softmax", None, {
        "last_dim": (lambda g: (randn(g, 2, 16),), {"module": lambda: torch.nn.Softmax(dim=-1), "smoke": True}),
        "dim1_4d": (lambda g: (randn(g, 1, 8, 4, 4),), {"module": lambda: torch.nn.Softmax(dim=1)}),
        "large_logits": (lambda g: (randn(g, 4, 10, std=20.0),), {"module": lambda: torch.nn.Softmax(dim=-1)}),
    }),
]
