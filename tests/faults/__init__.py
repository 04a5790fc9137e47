"""Faults planted in a lowering, for mutation self-tests and threshold measurements.

Each fault is wrapped around ExecuTorch's real `to_edge_transform_and_lower`: the program
it receives (already quantized and exported) is altered, so the lowered program is wrong
and quantized eager, built before, is not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch


def _depthwise_weight_scales(program: Any) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """Where the per-channel weight scales of the depthwise convolutions live, in graph order."""
    found = []
    for node in program.graph.nodes:
        if node.op != "call_function" or not str(node.target).startswith(("aten.conv", "aten.convolution")):
            continue
        at = 8 if "convolution" in str(node.target) else 6  # where `groups` is: convolution vs conv2d
        weight, groups = node.args[1], node.args[at] if len(node.args) > at else 1
        if groups == 1 or not isinstance(weight, torch.fx.Node) or "dequantize_per_channel" not in str(weight.target):
            continue
        found.append(_home(program, weight.args[1]))
    return found


def _home(program: Any, node: torch.fx.Node) -> tuple[str, dict[str, torch.Tensor]]:
    signature = program.graph_signature
    name = signature.inputs_to_lifted_tensor_constants.get(node.name) or signature.inputs_to_buffers.get(node.name) \
        or signature.inputs_to_parameters.get(node.name)
    return name, program.constants if name in program.constants else program.state_dict


def _replace(home: tuple[str, dict[str, torch.Tensor]], change: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """A new tensor, never in place: quantized eager shares the original with this program."""
    name, table = home
    table[name] = change(table[name].detach().clone())


def gain_error(layer: int = 1, gain: float = 1.05) -> Callable[[Any], None]:
    """Every output channel of the `layer`-th depthwise convolution `gain` times too large."""
    def plant(program: Any) -> None:
        _replace(_depthwise_weight_scales(program)[layer], lambda scale: scale * gain)
    return plant


def zeroed_channels(layer: int = 1, channels: int = 4) -> Callable[[Any], None]:
    """The first `channels` output channels of the `layer`-th depthwise convolution zeroed."""
    def plant(program: Any) -> None:
        _replace(_depthwise_weight_scales(program)[layer], lambda scale: torch.cat([scale[:channels] * 0, scale[channels:]]))
    return plant


@contextlib.contextmanager
def planted(fault: Callable[[Any], None]) -> Iterator[None]:
    """While inside, every lowering receives a program with `fault` applied."""
    import executorch.exir as exir

    real = exir.to_edge_transform_and_lower

    def lower(program: Any, *args: Any, **kwargs: Any) -> Any:
        fault(program)
        return real(program, *args, **kwargs)

    exir.to_edge_transform_and_lower = lower
    try:
        yield
    finally:
        exir.to_edge_transform_and_lower = real
