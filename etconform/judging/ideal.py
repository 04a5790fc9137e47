"""The ideal reference: how close to eager a correct program at the target's declared formats can be.

Made from eager PyTorch alone, never from the quantizer under test: each floating input is
put on a grid of the declared activation width whose range a plain min/max rule takes from
the calibration samples (the data the quantizer saw, not its observers), each weight (a
parameter of two or more dimensions) on a symmetric grid of the declared weight width, per
output channel where the target declares per-channel weights, and eager's output on a grid
of the activation width whose range is eager's own output range over the calibration samples.
Intermediates stay in float: the ideal is optimistic, and how far a clean program falls
short of it is measured per case (etconform.judging.oracle).

A quantizer that clips ranges, coarsens steps or uses fewer levels than declared falls
short of this reference however consistent it is with itself.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils import _pytree as pytree

from etconform.cases import Inputs
from etconform.targets import Formats


def _range(tensors: Sequence[torch.Tensor]) -> tuple[float, float]:
    """[min(lo, 0), max(hi, 0)] over the finite elements: min/max observers keep 0 representable."""
    lo, hi = 0.0, 0.0
    for t in tensors:
        finite = t.detach().double()[torch.isfinite(t)]
        if finite.numel():
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return lo, hi


def fake_quantize(x: torch.Tensor, lo: float, hi: float, bits: int) -> torch.Tensor:
    """x on an asymmetric grid of 2^bits levels spanning [lo, hi], in x's dtype. The grid's end
    values are clamped to [lo, hi] too: the rounded zero point can put them half a step past the
    observed range, and an op defined on that range only (asin on [-1, 1]) must not see them."""
    if hi <= lo:
        return torch.zeros_like(x)
    levels = 2**bits - 1
    scale = (hi - lo) / levels
    zero_point = round(-lo / scale)
    q = torch.clamp(torch.round(x.double() / scale) + zero_point, 0, levels)
    return torch.clamp((q - zero_point) * scale, lo, hi).to(x.dtype)


def _symmetric(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """w on a symmetric grid of 2^bits - 1 levels, scaled by max |w| (per output channel: dim 0)."""
    top = 2 ** (bits - 1) - 1
    wd = w.detach().double()
    amax = wd.abs().flatten(1).amax(1).view(-1, *[1] * (w.dim() - 1)) if per_channel else wd.abs().max()
    scale = torch.where(amax > 0, amax / top, torch.ones_like(amax))
    return (torch.clamp(torch.round(wd / scale), -top, top) * scale).to(w.dtype)


def _leaves(outputs: Any) -> list[Any]:
    return pytree.tree_flatten(outputs)[0]


def ideal_outputs(module: torch.nn.Module, samples: Sequence[Inputs], calibration: Sequence[Inputs],
                  formats: Formats) -> list[Any]:
    """One output pytree per evaluation sample: eager on ideal inputs and weights, its output on the ideal grid."""
    bits = formats.activation_bits
    module = copy.deepcopy(module)  # calibration and the weights' rounding leave the caller's module alone
    with torch.no_grad():
        ranges = [_range([c[i] for c in calibration if c[i].is_floating_point()]) for i in range(len(calibration[0]))]
        out_ranges: dict[int, tuple[float, float]] = {}
        for sample in calibration:
            for k, leaf in enumerate(_leaves(module(*[t.clone() for t in sample]))):
                if isinstance(leaf, torch.Tensor) and leaf.is_floating_point():
                    lo, hi = _range([leaf])
                    known = out_ranges.get(k, (0.0, 0.0))
                    out_ranges[k] = (min(known[0], lo), max(known[1], hi))
        for p in module.parameters():
            if p.is_floating_point() and p.dim() >= 2:
                p.copy_(_symmetric(p, formats.weight_bits, formats.per_channel))
        found = []
        for sample in samples:
            inputs = [fake_quantize(x, *ranges[i], bits) if x.is_floating_point() else x.clone()
                      for i, x in enumerate(sample)]
            leaves, spec = pytree.tree_flatten(module(*inputs))
            leaves = [fake_quantize(t, *out_ranges.get(k, (0.0, 0.0)), bits) if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                      for k, t in enumerate(leaves)]
            found.append(pytree.tree_unflatten(leaves, spec))
        return found
