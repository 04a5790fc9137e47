"""Normalisation: layer, batch, group, instance, RMS and local response norm, L_p normalisation.

Covers: layer norm and RMS norm over the last one and two dims, with and without affine
weights; batch norm (1d and 2d) in eval mode with non-trivial running statistics; group
norm from one group to one group per channel; instance norm with and without affine
weights; local response norm with odd and even sizes (AlexNet's parameters); F.normalize
with p = 1 and 2 over several dims, with all-zero rows.
softmax, log_softmax and softmin are in activations.py.
Not yet: batch norm in training mode, instance norm with running stats, 3d variants, layer
norm without bias.
"""

import torch
import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn, with_edges

nn = torch.nn


def _running_stats(bn: nn.Module) -> nn.Module:
    with torch.no_grad():  # running stats that are not the identity, so the op does something
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2.0)
        if bn.affine:
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    return bn


def _batch_norm(channels: int, affine: bool = True) -> nn.Module:
    return _running_stats(nn.BatchNorm2d(channels, affine=affine))


def _batch_norm1d(channels: int, affine: bool = True) -> nn.Module:
    return _running_stats(nn.BatchNorm1d(channels, affine=affine))


def _affine(norm: nn.Module) -> nn.Module:
    """Non-trivial affine weights (they start as ones and zeros)."""
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        if getattr(norm, "bias", None) is not None:
            norm.bias.uniform_(-0.5, 0.5)
    return norm


def _zero_rows(g: torch.Generator) -> tuple[torch.Tensor]:
    x = randn(g, 6, 10, std=3.0)
    x[2] = 0.0
    return (x,)


CASES = [
    *op_cases("layer_norm", None, {
        "last_dim": (lambda g: (randn(g, 2, 8, 32),), {"module": lambda: torch.nn.LayerNorm(32), "smoke": True}),
        "last_two_dims": (lambda g: (randn(g, 1, 4, 6, 8, std=3.0),), {"module": lambda: torch.nn.LayerNorm([6, 8])}),
        "no_affine_offset": (lambda g: (randn(g, 5, 16, mean=10.0),), {"module": lambda: torch.nn.LayerNorm(16, elementwise_affine=False)}),
        "rank1_prime": (lambda g: (randn(g, 17),), {"module": lambda: _affine(nn.LayerNorm(17))}),
        "large_magnitude": (lambda g: (with_edges(g, 3, 24, scale=100.0),), {"module": lambda: _affine(nn.LayerNorm(24))}),
    }),
    *op_cases("batch_norm", None, {
        "4d": (lambda g: (randn(g, 1, 8, 6, 6),), {"module": lambda: _batch_norm(8), "smoke": True}),
        "batch2_odd": (lambda g: (randn(g, 2, 3, 7, 5, std=2.0),), {"module": lambda: _batch_norm(3)}),
        "wide": (lambda g: (randn(g, 1, 32, 4, 4, mean=1.0),), {"module": lambda: _batch_norm(32)}),
        "no_affine": (lambda g: (randn(g, 1, 6, 5, 5),), {"module": lambda: _batch_norm(6, affine=False)}),
        "single_pixel": (lambda g: (randn(g, 4, 16, 1, 1, std=3.0),), {"module": lambda: _batch_norm(16)}),
    }),
    *op_cases("batch_norm1d", None, {
        "2d": (lambda g: (randn(g, 4, 16),), {"module": lambda: _batch_norm1d(16), "smoke": True}),
        "3d_sequence": (lambda g: (randn(g, 2, 8, 13),), {"module": lambda: _batch_norm1d(8)}),
        "no_affine_offset": (lambda g: (randn(g, 3, 12, 7, mean=3.0),), {"module": lambda: _batch_norm1d(12, affine=False)}),
        "batch1_wide": (lambda g: (randn(g, 1, 32),), {"module": lambda: _batch_norm1d(32)}),
    }),
    *op_cases("group_norm", None, {
        "groups2": (lambda g: (randn(g, 1, 8, 6, 6),), {"module": lambda: _affine(nn.GroupNorm(2, 8)), "smoke": True}),
        "groups1": (lambda g: (randn(g, 2, 6, 5, 5),), {"module": lambda: _affine(nn.GroupNorm(1, 6))}),
        "group_per_channel": (lambda g: (randn(g, 1, 4, 7, 7),), {"module": lambda: _affine(nn.GroupNorm(4, 4))}),
        "no_affine_offset": (lambda g: (randn(g, 1, 16, 4, 4, mean=5.0, std=2.0),), {"module": lambda: nn.GroupNorm(4, 16, affine=False)}),
        "3d_groups8": (lambda g: (randn(g, 2, 32, 9),), {"module": lambda: _affine(nn.GroupNorm(8, 32))}),
    }),
    *op_cases("instance_norm", None, {
        "2d": (lambda g: (randn(g, 1, 4, 8, 8),), {"module": lambda: nn.InstanceNorm2d(4), "smoke": True}),
        "2d_affine_batch2": (lambda g: (randn(g, 2, 3, 7, 5),), {"module": lambda: _affine(nn.InstanceNorm2d(3, affine=True))}),
        "1d": (lambda g: (randn(g, 2, 6, 15),), {"module": lambda: nn.InstanceNorm1d(6)}),
        "2d_offset": (lambda g: (randn(g, 1, 8, 5, 5, mean=10.0, std=0.5),), {"module": lambda: nn.InstanceNorm2d(8)}),
    }),
    *op_cases("rms_norm", None, {
        "last_dim": (lambda g: (randn(g, 2, 8, 32),), {"module": lambda: _affine(nn.RMSNorm(32)), "smoke": True}),
        "last_two_dims": (lambda g: (randn(g, 1, 3, 4, 8),), {"module": lambda: _affine(nn.RMSNorm([4, 8]))}),
        "no_affine": (lambda g: (randn(g, 5, 16, std=3.0),), {"module": lambda: nn.RMSNorm(16, elementwise_affine=False)}),
        "eps_large_magnitude": (lambda g: (with_edges(g, 4, 24, scale=50.0),), {"module": lambda: _affine(nn.RMSNorm(24, eps=1e-5))}),
        "rank1_prime": (lambda g: (randn(g, 13, mean=1.0),), {"module": lambda: nn.RMSNorm(13, eps=1e-6)}),
    }),
    *op_cases("local_response_norm", None, {
        "size5_alexnet": (lambda g: (randn(g, 1, 16, 6, 6, std=2.0),), {
            "module": lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), "smoke": True,
        }),
        "size3_default": (lambda g: (randn(g, 1, 8, 5, 5),), {"module": lambda: nn.LocalResponseNorm(3)}),
        "size2_even": (lambda g: (randn(g, 1, 6, 4, 7),), {"module": lambda: nn.LocalResponseNorm(2, alpha=0.1)}),
        "size5_large_inputs": (lambda g: (randn(g, 1, 12, 4, 4, std=20.0),), {"module": lambda: nn.LocalResponseNorm(5, alpha=1e-3, beta=0.75, k=1.0)}),
        "3d_size3": (lambda g: (randn(g, 2, 8, 10),), {"module": lambda: nn.LocalResponseNorm(3, alpha=0.01)}),
    }),
    *op_cases("normalize", None, {
        "l2_dim1": (lambda g: (randn(g, 4, 16),), {"module": lambda: Lambda(lambda x: F.normalize(x, dim=1)), "smoke": True}),
        "l2_channels_4d": (lambda g: (randn(g, 1, 8, 5, 5),), {"module": lambda: Lambda(lambda x: F.normalize(x, dim=1))}),
        "l1_last_dim": (lambda g: (randn(g, 2, 3, 12),), {"module": lambda: Lambda(lambda x: F.normalize(x, p=1.0, dim=-1))}),
        "l2_zero_row": (_zero_rows, {"module": lambda: Lambda(lambda x: F.normalize(x, dim=-1))}),
        "l2_rank1_large": (lambda g: (randn(g, 31, std=100.0),), {"module": lambda: Lambda(lambda x: F.normalize(x, dim=0))}),
    }),
]
