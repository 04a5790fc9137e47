"""Checks the quantizer's steps against the ranges the calibration data actually has.

Quantized verdicts count in output steps and forgive input rounding, so a step the
quantizer made too coarse would loosen every bound that uses it. Here each activation's
step is compared with the step its grid needs for the range observed on the
calibration samples: the converted module is re-run on them, recording the float
tensor entering every activation quantize node.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

# Provisional: an asymmetric observer gives ~1, a symmetric one up to ~2 (one-sided data).
# To be set from the distribution measured over the catalog.
MAX_SCALE_RATIO = 4.0
# The Arm quantizer's observers never choose a step below their eps: a tiny range then gets a
# coarser step by design, which is recorded. 2^-16 in the a8w8 config; the a16w8 config's is
# 2^-12, which leaves an int16 output of range [0, 1] (a sigmoid) 4096 of its 65536 levels.
MIN_STEP = 2**-16


@dataclass
class ScaleReport:
    ratios: dict[str, float] = field(default_factory=dict)  # tensor (node name) -> chosen step / needed step
    worst: float = 0.0
    findings: list[str] = field(default_factory=list)  # coarse steps with no reason: fail at quantize
    # Coarse steps the quantizer chose knowingly (a grid shared with a wider tensor, the
    # observers' 2^-16 floor): recorded, not failed; the bound on such an output is as
    # coarse as its grid.
    deliberate: list[str] = field(default_factory=list)
    # Tensor of a finding -> "shared" (its grid is shared with a wider tensor, as the quantizer
    # chose) or "minimum step": a known cause the runner may treat apart from a wrong scale.
    causes: dict[str, str] = field(default_factory=dict)
    note: str = ""  # why the check could not be made, when it could not


@dataclass
class _Watched:
    """An activation quantize node and the float range recorded for the tensor it quantizes."""

    quantize: torch.fx.Node
    scale: float
    zero_point: int
    qmin: int
    qmax: int
    low: float = math.inf
    high: float = -math.inf
    finite: bool = True  # False once a NaN or an infinity went through: no range to judge

    @property
    def grid(self) -> tuple[float, int, int, int]:
        return self.scale, self.zero_point, self.qmin, self.qmax

    @property
    def seen(self) -> bool:
        return self.finite and math.isfinite(self.low) and math.isfinite(self.high)


def check_scales(
    module: torch.fx.GraphModule, calibration: Sequence[Sequence[torch.Tensor]], max_ratio: float = MAX_SCALE_RATIO,
    min_step: float = MIN_STEP,
) -> ScaleReport:
    """Ratio of chosen to needed step for every activation quantize node of a converted module.

    Never raises: a graph the check cannot run on gives a report with a note.
    """
    try:
        watched = activation_quantizers(module)
        _record_ranges(module, watched, calibration)
    except Exception as exc:  # noqa: BLE001 - the check must not fail the lowering
        return ScaleReport(note=f"scales not checked: {type(exc).__name__}: {exc}"[:500])
    report = ScaleReport()
    for w in watched:
        ratio = _ratio(w)
        if ratio is None:
            continue
        name = w.quantize.args[0].name
        report.ratios[name] = round(max(ratio, report.ratios.get(name, 0.0)), 3)
        if ratio > max_ratio:
            cause, why = _cause(w, watched, max_ratio, min_step)
            if cause:
                report.causes[name] = cause
                report.deliberate.append(f"{_finding(w, ratio)}; {why}")
            else:
                report.findings.append(_finding(w, ratio))
    report.worst = max(report.ratios.values(), default=0.0)
    return report


def _cause(w: _Watched, watched: list[_Watched], max_ratio: float, min_step: float = MIN_STEP) -> tuple[str, str]:
    """("shared" or "minimum step", why) when the quantizer chose the coarse step knowingly."""
    if math.isclose(w.scale, min_step, rel_tol=1e-6):
        return "minimum step", f"the quantizer's minimum step (2^{round(math.log2(min_step))})"
    # Shared qparams (cat, pooling, clamp...) give equal grids: the union range sets the step.
    peers = [p for p in watched if p.grid == w.grid and p.seen]
    low, high = min(p.low for p in peers), max(p.high for p in peers)
    needed = _needed_step(low, high, w.qmin, w.qmax)
    if len(peers) < 2 or needed <= 0 or w.scale / needed > max_ratio:
        return "", ""
    widest = max(peers, key=lambda p: max(p.high, 0.0) - min(p.low, 0.0))
    return "shared", f"shared with {describe(widest.quantize.args[0])}, whose range needs it"


def activation_quantizers(module: torch.fx.GraphModule) -> list[_Watched]:
    """Per-tensor quantize nodes on tensors computed from the inputs (weights are constants)."""
    from_inputs = _depends_on_inputs(module.graph)
    found = []
    for node in module.graph.nodes:
        if node.op != "call_function" or not _is_quantize(node):
            continue
        source = node.args[0]
        if not isinstance(source, torch.fx.Node) or source not in from_inputs:
            continue
        qparams = [constant_arg(module, a) for a in node.args[1:5]]
        if not all(isinstance(v, (int, float)) for v in qparams):
            continue  # per-channel or dynamic: not an activation grid fixed by calibration
        scale, zero_point, qmin, qmax = qparams
        found.append(_Watched(node, float(scale), int(zero_point), int(qmin), int(qmax)))
    return found


def _is_quantize(node: torch.fx.Node) -> bool:
    target = str(node.target)
    return "quantize_per_tensor" in target and "dequantize" not in target


def _depends_on_inputs(graph: torch.fx.Graph) -> set[torch.fx.Node]:
    """Nodes whose value depends on a graph input (nodes are in topological order)."""
    found: set[torch.fx.Node] = set()
    for node in graph.nodes:
        if node.op == "placeholder" or any(a in found for a in node.all_input_nodes):
            found.add(node)
    return found


def constant_arg(module: torch.fx.GraphModule, value: Any) -> Any:
    """A node argument as a Python number when it is a scalar constant (qparams often are get_attr)."""
    if isinstance(value, torch.fx.Node) and value.op == "get_attr":
        value = getattr(module, str(value.target))
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return value


class _RangeRecorder(torch.fx.Interpreter):
    """Runs the graph node by node, widening the range of each watched tensor."""

    def __init__(self, module: torch.fx.GraphModule, watched: list[_Watched]):
        super().__init__(module)
        self.by_source: dict[torch.fx.Node, list[_Watched]] = {}
        for w in watched:
            self.by_source.setdefault(w.quantize.args[0], []).append(w)

    def run_node(self, n: torch.fx.Node) -> Any:
        result = super().run_node(n)
        if n in self.by_source and isinstance(result, torch.Tensor) and result.numel() and result.is_floating_point():
            low, high = (v.item() for v in torch.aminmax(result.detach().float()))
            for w in self.by_source[n]:
                w.low, w.high = min(w.low, low), max(w.high, high)
                w.finite = w.finite and math.isfinite(low) and math.isfinite(high)
        return result


def _record_ranges(module: torch.fx.GraphModule, watched: list[_Watched], calibration: Sequence[Sequence[torch.Tensor]]) -> None:
    recorder = _RangeRecorder(module, watched)
    with torch.no_grad():
        for sample in calibration:
            recorder.run(*sample)


def _needed_step(low: float, high: float, qmin: int, qmax: int) -> float:
    # Observers keep 0 exactly representable, so the range always includes it.
    return (max(high, 0.0) - min(low, 0.0)) / (qmax - qmin)


def _ratio(w: _Watched) -> float | None:
    """Chosen step / needed step; None for a tensor never seen, constant zero or not finite."""
    if not w.seen or w.qmax <= w.qmin:
        return None
    needed = _needed_step(w.low, w.high, w.qmin, w.qmax)
    return w.scale / needed if needed > 0 else None


def describe(node: torch.fx.Node) -> str:
    """The tensor a node computes, as a reader finds it in the graph."""
    if node.op == "placeholder":
        return f"input {node.name}"
    op = str(node.target).removesuffix(".default")
    return f"output of {op} (node {node.name})"


def _grid(w: _Watched) -> str:
    dtype = w.quantize.args[5] if len(w.quantize.args) > 5 else None
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return f"[{w.qmin}, {w.qmax}]"


def _finding(w: _Watched, ratio: float) -> str:
    low, high = min(w.low, 0.0), max(w.high, 0.0)
    return (
        f"{describe(w.quantize.args[0])}: step {w.scale:.4g} is {ratio:.1f}x what the observed range "
        f"[{low:.3g}, {high:.3g}] needs on {_grid(w)} ({_needed_step(w.low, w.high, w.qmin, w.qmax):.2g})"
    )


def weight_grids(module: torch.fx.GraphModule) -> list[tuple[torch.fx.Node, int, int]]:
    """(dequantize node, qmin, qmax) of every constant (a weight) a dequantize reads."""
    found = []
    for node in module.graph.nodes:
        if node.op != "call_function" or "dequantize_per" not in str(node.target) or getattr(node.args[0], "op", "") != "get_attr":
            continue
        # per tensor: (x, scale, zero_point, qmin, qmax, dtype); per channel: (x, scales, zero_points, axis, qmin, qmax, dtype)
        qmin, qmax = (node.args[4], node.args[5]) if "per_channel" in str(node.target) else (node.args[3], node.args[4])
        if isinstance(qmin, int) and isinstance(qmax, int):
            found.append((node, qmin, qmax))
    return found


def level_findings(module: torch.fx.GraphModule, activation_bits: int, weight_bits: int) -> list[str]:
    """Grids with fewer levels than the target declares: a quantizer that narrows qmin/qmax keeps
    its steps consistent with themselves, so only the declared width can show it. A grid of
    2^bits - 1 levels or more is full width (a symmetric [-127, 127] is)."""
    found = []
    for w in activation_quantizers(module):
        levels = w.qmax - w.qmin + 1
        if levels < 2**activation_bits - 1:
            found.append(f"{describe(w.quantize.args[0])}: quantized on {levels} levels [{w.qmin}, {w.qmax}], "
                         f"the target declares {activation_bits}-bit activations ({2**activation_bits} levels)")
    for node, qmin, qmax in weight_grids(module):
        levels = qmax - qmin + 1
        if levels < 2**weight_bits - 1:
            found.append(f"weight {node.args[0].target}: quantized on {levels} levels [{qmin}, {qmax}], "
                         f"the target declares {weight_bits}-bit weights ({2**weight_bits - 1} levels)")
    return found
