"""Where a model's error comes from: the first layer at which a lowered program departs.

A tapped copy of the model goes through the same lowering (etconform.lowering.pipeline) with
ExecuTorch's intermediate-output taps (`executorch.devtools.intermediate_output_tap`) on
every tensor the quantizer puts on an integer grid: those tensors leave the delegates as
extra program outputs, so each executor that runs the lowered program shows them, and
quantized eager and eager give the same tensors for comparison. Taps sit only where the
untapped program already has a quantized tensor, so the quantization is unchanged;
whether the partitioning changed is measured and recorded.

Against quantized eager a layer departs when its own error exceeds OWN_MAX_QSTEPS: quantized
eager recomputes each tapped tensor from the program's own values of the taps before it, so a
layer is charged with what it computes, not what it inherited (without own errors: when its
SQNR falls more than a margin below the layers before it). Against eager the fall rule decides.
The margins were measured on clean runs: docs/ml-engineer.md, "Where a model's error comes from".

Covers: quantized targets (XNNPACK int8, TOSA INT, Ethos-U through the TOSA reference model).
Not yet: float targets (their fused kernels have no quantized boundaries to tap at).
"""

from __future__ import annotations

import copy
import math
import operator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils import _pytree as pytree

from etconform.cases import Built
from etconform.judging.compare import SQNR_CAP_DB
from etconform.lowering.pipeline import Lowered, _qparams, convert_pt2e, fake_quantize, lower, prepare_pt2e
from etconform.targets import Target

# Measured on clean runs (docs/ml-engineer.md): the largest fall of a layer's SQNR below the worst layer
# before it was 6.95 dB against quantized eager (ds_cnn-kws, xnnpack_int8) and 7.3 dB against
# eager (a random-weight MobileNetV2's first three blocks, xnnpack_int8; ds_cnn-kws: 4.0 dB).
MARGIN_VS_QUANTIZED_DB = 12.0
MARGIN_VS_EAGER_DB = 15.0
CEILING_DB = 60.0  # above this, a difference is a few rounding steps in a few elements
# A layer's own error (computed by quantized eager from the program's own inputs to it): at most
# one output step on every layer of clean runs (MobileNetV2's 100 taps and DS-CNN's on
# xnnpack_int8, the self-tests' network); a 1.5x weight fault in one layer gives 50.
OWN_MAX_QSTEPS = 1.0


@dataclass
class Layer:
    name: str  # the module path of the tapped node, e.g. features.3.conv.1.0
    op: str  # e.g. conv2d
    node: str  # the FX node name, as in the float export
    output_index: int  # where the tap lands in the program's flat outputs
    scale: float | None = None  # the tensor's quantization step
    # The step of the grid the tap reports the tensor on, where it differs (Arm's quantizer gives a
    # tap's output a grid of its own): re-rounding a value onto a finer one adds at most one of its steps.
    reported: float | None = None
    runs_on: str = "CPU"  # "<backend> #k": the k-th delegate call computes it, as named in etconform.analysis.explorer


@dataclass
class Tapped:
    """The tapped lowering and the references of each tap, shared by every executor."""
    lowered: Lowered
    layers: list[Layer]
    eager: list[list[torch.Tensor]]  # per sample, the flat outputs of the tapped float program
    quantized: list[list[torch.Tensor]]  # the same from the tapped quantized module
    input_sqnr_db: float = CEILING_DB  # the quantized program input against the float one
    samples: list[Any] = field(default_factory=list)  # the evaluation inputs (for each layer's own error)
    # Eager fed quantized eager's own taps (own_values): what each layer's quantization adds. The same for every executor.
    quantizer_own: list[list[Any]] | None = None
    changed: dict[str, Any] = field(default_factory=dict)  # what tapping changed


def _flat(outputs: Any) -> list[torch.Tensor]:
    return [t.detach().float() for t in pytree.tree_flatten(outputs)[0]]


def quantized_sources(program: Any, target: Target, calibration: list[Any], workdir: Path) -> set[str]:
    """Names of the compute nodes whose output the quantizer puts on a grid (not the model's outputs)."""
    _, quantizer = target.make(workdir)
    prepared = prepare_pt2e(copy.deepcopy(program).module(check_guards=False), quantizer)
    for sample in calibration:
        prepared(*sample)
    converted = convert_pt2e(prepared)
    leaving = set(converted.graph.output_node().all_input_nodes)
    names = {node.name for node in program.graph.nodes}
    found = set()
    for node in converted.graph.nodes:
        if node.op != "call_function" or "quantize_per_tensor" not in str(node.target) or "dequantize" in str(node.target):
            continue
        source = node.args[0]
        if isinstance(source, torch.fx.Node) and source.op == "call_function" \
                and not any(dq in leaving for dq in node.users):
            found.add(_origin(source, names))
    return found


def _origin(node: torch.fx.Node, names: set[str]) -> str:
    """The exported program's node that `node` comes from. A quantizer may decompose an op before
    annotating it (Arm's: adaptive_avg_pool2d into slices and avg_pool2d), and a node that keeps
    no name of the program would never be tapped: its rounding would be charged to the next layer."""
    sources = node.meta.get("from_node") or []
    while sources:
        if sources[0].name in names:
            return sources[0].name  # the nearest: an older graph's names may mean other nodes
        sources = sources[0].from_node
    return node.name


_PADS = ("aten.pad.default", "aten.constant_pad_nd.default")


def read_at_pads(program: Any, sources: set[str]) -> dict[str, torch.fx.Node]:
    """Tapped tensors that a constant pad reads, each with the pad (itself tapped) to read it at instead.
    XNNPACK's int8 delegate cannot return a tensor a pad also reads: the program fails to run
    (FINDINGS.md). A pad only adds borders of zeros, so its output carries its input's error."""
    found = {}
    for node in program.graph.nodes:
        pads = [u for u in node.users if str(u.target) in _PADS and u.name in sources]
        if node.name in sources and pads:
            found[node.name] = pads[0]
    return found


def _op(target: str) -> str:
    """An op's short name: aten.conv2d.default -> conv2d."""
    return target.split(".")[-2] if target.count(".") >= 2 else target


def _label(node: torch.fx.Node) -> tuple[str, str]:
    """The module path (else the node name) and op of an exported node, as the taps name theirs."""
    stack = list((node.meta.get("nn_module_stack") or {}).values())
    path = stack[-1][0] if stack else ""
    return path or node.name, _op(str(node.target))


def tap(built: Built, target: Target, workdir: Path) -> Tapped:
    """Lower a tapped copy of the model and compute quantized eager's and eager's value of every tap."""
    from executorch.devtools.intermediate_output_tap import FULL_TENSOR, tap_intermediate_outputs_

    inputs = built.samples[0]
    calibration = built.calibration or [inputs]
    program = torch.export.export(built.module, inputs)
    sources = quantized_sources(program, target, calibration, workdir)
    if not sources:
        raise ValueError("no tensor of the model is quantized: nothing to tap")
    read_at = read_at_pads(program, sources) if target.backend == "xnnpack" else {}
    sources -= set(read_at)
    standing = {pad.name: _label(pad.args[0]) for pad in read_at.values()}  # pad -> the layer it is read for
    tapped, specs = tap_intermediate_outputs_(copy.deepcopy(program), [(lambda n: n.name in sources, FULL_TENSOR)])
    lowered = lower(built.module, inputs, target, workdir, built.calibration, (tapped, 0.0), tapped=True)
    steps = tap_steps(lowered.quantized_module)
    layers = []
    for spec in specs:
        q, reported = steps[spec.output_index] if spec.output_index < len(steps) else (None, None)
        name, op = spec.module_path or spec.node_name, _op(spec.op_target)
        if spec.node_name in standing:
            name, op = standing[spec.node_name][0], f"{standing[spec.node_name][1]}, read at the pad after it"
        layers.append(Layer(name, op, spec.node_name, spec.output_index, q[0] if q else None,
                            reported[0] if q and reported and reported != q else None))
    homes = delegate_of_outputs(lowered.edge_program)
    for layer in layers:
        layer.runs_on = homes.get(layer.output_index, "CPU")
    # Eager's value of each tap: where the quantizer folds a BatchNorm into the convolution, the BatchNorm's output.
    folded = {_after_folding(n).name for n in program.graph.nodes if n.name in sources}
    eager_program, eager_specs = tap_intermediate_outputs_(copy.deepcopy(program), [(lambda n: n.name in folded, FULL_TENSOR)])
    if [s.output_index for s in eager_specs] != [s.output_index for s in specs]:
        raise ValueError("the eager taps do not line up with the quantized ones")
    with torch.no_grad():
        eager = [_flat(_Copying(eager_program.module()).run(*s)) for s in built.samples]
        quantized = [_flat(_Copying(lowered.quantized_module).run(*s)) for s in built.samples]
    rounded = [fake_quantize(s, lowered.input_qparams) for s in built.samples]
    input_sqnr = min(sqnr_db(torch.cat([r.reshape(-1) for r in rs]).float(), torch.cat([x.reshape(-1) for x in xs]).float())
                     for rs, xs in zip(rounded, built.samples))
    quantizer_own = own_values(eager_program.module(), built.samples, quantized, [layer.output_index for layer in layers])
    return Tapped(lowered, layers, eager, quantized, input_sqnr, list(built.samples), quantizer_own)


class _Copying(torch.fx.Interpreter):
    """Runs a graph keeping a copy of each tap: an in-place op after it (ReLU6(inplace=True)) would change it."""

    def call_function(self, target: Any, args: Any, kwargs: Any) -> Any:
        out = super().call_function(target, args, kwargs)
        return out.clone() if "executorch_devtools.tap" in str(target) else out


class _Forced(_Copying):
    """A tapped module with each tapped tensor replaced by a given value, keeping what it computed.

    Fed the program's tap values, quantized eager computes each layer from the program's own
    input to it: the difference is that layer's own error, not what it inherited from the layers
    before. Fed quantized eager's values, eager does the same for the quantizer.
    """

    def __init__(self, module: torch.fx.GraphModule, forced: dict[str, tuple[torch.Tensor, Any, Any]]):
        super().__init__(module)
        # forced: {node: (value, its grid or None, the grid the tap reports it on or None)}; a grid:
        # (scale, zero point, qmin, qmax)
        self.forced, self.own = forced, {}
        self.stood_in: dict[str, tuple[int, int]] = {}  # {node: (elements saturated on the tap's grid, elements)}

    def run_node(self, n: torch.fx.Node) -> Any:
        out = super().run_node(n)
        if n.name not in self.forced:
            return out
        value, grid, reported = self.forced[n.name]
        self.stood_in[n.name] = (0, out.numel())
        if grid is None:
            self.own[n.name] = out.detach().clone().float()
            return value.to(out.dtype).reshape(out.shape).clone()
        scale, zero_point, qmin, qmax = grid
        self.own[n.name] = fake_quantize(((out.float() - zero_point) * scale,), [reported])[0]  # on the tap's grid
        given = torch.clamp(torch.round(value / scale) + zero_point, qmin, qmax).to(out.dtype).reshape(out.shape)
        if reported is not None:
            # The tap's grid spans what calibration saw: where it saturates, the program's value on the
            # tensor's own grid is unknown, and quantized eager's own value stands in for it.
            code = torch.round(value / reported[0]) + reported[1]
            saturated = ((code <= reported[2]) | (code >= reported[3])).reshape(out.shape)
            given = torch.where(saturated, out, given)
            self.stood_in[n.name] = (int(saturated.sum()), saturated.numel())
        return given


def _tapped_sources(module: torch.fx.GraphModule, taps: list[int]) -> dict[int, tuple[str, Any, Any]]:
    """{flat output index: (the node to force, its grid or None, the tap's own grid or None)} for the
    taps at those outputs.

    A tap of a quantized tensor reads a dequantize of its own (PT2E gives each user one), so the
    node forced is the quantize that every user's dequantize reads, on its grid. Arm's quantizer
    also quantizes the tap's output, on a grid of its own (quantize -> dequantize -> tap ->
    quantize' -> dequantize' -> output; the flattened outputs have no tap node): the walk back goes
    through the tap to the first quantize, and quantized eager's value is then put on the tap's
    grid, as the program reports it. An average pool shares its input's grid, and its tap's is 9x
    finer (MobileNetV3's squeeze-excitation): without this, every pool departed by 5 to 55 steps.
    The tap's grid may also saturate where the tensor's does not (see _Forced). Where the tap's grid is coarser than the tensor's, the program's value cannot be put back on
    the tensor's grid exactly: not forced, no own error. Taps are found by output index, not op.
    """
    outputs = pytree.tree_flatten(module.graph.output_node().args[0])[0]
    found = {}
    for i in taps:
        node = outputs[i] if i < len(outputs) else None
        if not isinstance(node, torch.fx.Node):
            continue
        node, dequantizes = _walk(node)
        if not dequantizes:
            found[i] = (node.name, None, None)
            continue
        if not all("per_tensor" in str(d.target) for d in dequantizes):  # a grid per channel: not forced
            continue
        grid, reported = _qparams(module, dequantizes[-1]), _qparams(module, dequantizes[0])
        if grid is None or reported is None:
            continue
        if reported == grid:
            found[i] = (node.name, grid, None)
        elif reported[0] <= grid[0]:
            found[i] = (node.name, grid, reported)
    return found


def _walk(node: torch.fx.Node) -> tuple[torch.fx.Node, list[torch.fx.Node]]:
    """From a program output back through taps and their (de)quantizes to the tensor they report:
    (the quantize that tensor's users read, or the node itself if it is not quantized; the
    dequantizes passed, from the output inward: [0] is the tap's grid, [-1] the tensor's)."""
    dequantizes = []
    while True:
        if _is_tap(node) and isinstance(node.args[0], torch.fx.Node):
            node = node.args[0]
        elif "dequantize" in str(node.target) and _is_quantize(node.args[0]):
            dequantizes.append(node)
            node = node.args[0]  # the quantize it reads
            if not (isinstance(node.args[0], torch.fx.Node) and _is_tap(node.args[0])):
                return node, dequantizes
            node = node.args[0]
        else:
            return node, dequantizes


def _is_quantize(node: Any) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and "quantize_per" in str(node.target) \
        and "dequantize" not in str(node.target) and bool(node.args)


def _is_tap(node: torch.fx.Node) -> bool:
    return "executorch_devtools.tap" in str(node.target)


def own_values(module: torch.fx.GraphModule, samples: list[Any], given: list[list[torch.Tensor]],
               taps: list[int], stood_in: dict[int, float] | None = None) -> list[list[Any]]:
    """Per sample, per flat output: what `module` computes at each tap from `given`'s values of the taps before it.
    `stood_in` gets, per flat output, the share of elements whose input was quantized eager's own (see _Forced)."""
    sources = _tapped_sources(module, taps)
    found, counts = [], {}
    with torch.no_grad():
        for sample, values in zip(samples, given):
            forced = _Forced(module, {name: (values[i], grid, reported) for i, (name, grid, reported) in sources.items()})
            forced.run(*sample)
            found.append([forced.own.get(sources[i][0]) if i in sources else None for i in range(len(values))])
            for i, (name, _, _) in sources.items():
                saturated, total = forced.stood_in.get(name, (0, 0))
                counts[i] = (counts.get(i, (0, 0))[0] + saturated, counts.get(i, (0, 0))[1] + total)
    if stood_in is not None:
        stood_in.update({i: round(n / total, 4) for i, (n, total) in counts.items() if total})
    return found


def _after_folding(node: torch.fx.Node) -> torch.fx.Node:
    """The node itself, or the output of the BatchNorm that is its only user (PT2E folds it into the convolution)."""
    users = list(node.users)
    if len(users) != 1 or "batch_norm" not in str(users[0].target):
        return node
    norm = users[0]
    first = [u for u in norm.users if u.target is operator.getitem and u.args[1] == 0]
    return first[0] if first else norm


def tap_steps(converted: torch.fx.GraphModule) -> list[tuple[Any, Any]]:
    """Per output of a converted module: the (scale, zero point, qmin, qmax) of the tensor itself,
    looking through taps, and of the grid the output reports it on (see _walk); None if not per tensor."""
    found = []
    for out in pytree.tree_flatten(converted.graph.output_node().args[0])[0]:
        dequantizes = _walk(out)[1] if isinstance(out, torch.fx.Node) else []
        grids = [_qparams(converted, d) if "dequantize_per_tensor" in str(d.target) else None
                 for d in dequantizes[-1:] + dequantizes[:1]]
        found.append((grids[0], grids[1]) if grids else (None, None))
    return found


def delegate_of_outputs(program: Any) -> dict[int, str]:
    """{program output index: "<backend> #k"} for the outputs that the k-th call of a backend produces."""
    graph = program.graph_module.graph
    calls: dict[str, str] = {}
    count: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_function" and "executorch_call_delegate" in str(node.target):
            backend = getattr(program.graph_module, node.args[0].target).backend_id
            calls[node.name] = f"{backend} #{count.get(backend, 0)}"
            count[backend] = count.get(backend, 0) + 1
    found = {}
    for i, out in enumerate(graph.output_node().args[0]):
        while isinstance(out, torch.fx.Node) and out.op == "call_function" and out.name not in calls and out.args:
            out = out.args[0]  # through getitem and any copy the lowering added
        if isinstance(out, torch.fx.Node) and out.name in calls:
            found[i] = calls[out.name]
    return found


def sqnr_db(actual: torch.Tensor, reference: torch.Tensor) -> float:
    """10 log10(signal / noise) of `actual` against `reference`, capped (an exact match gives the cap)."""
    noise = float(((actual.double() - reference.double()) ** 2).sum())
    signal = float((reference.double() ** 2).sum())
    if noise == 0:
        return SQNR_CAP_DB
    if not math.isfinite(noise):
        return -SQNR_CAP_DB
    return min(SQNR_CAP_DB, 10 * math.log10(signal / noise)) if signal > 0 else -SQNR_CAP_DB


def _joined(per_sample: list[list[torch.Tensor]], index: int) -> torch.Tensor:
    return torch.cat([outs[index].reshape(-1) for outs in per_sample])


def first_departure(sqnr: list[float], margin_db: float, start_db: float = CEILING_DB) -> int | None:
    """The first index whose SQNR falls more than `margin_db` below the worst before it.

    `start_db`: the program input's SQNR (the input is the layer before the first); never above CEILING_DB.
    """
    level = min(CEILING_DB, start_db)
    for i, value in enumerate(sqnr):
        if not value >= level - margin_db:  # NaN departs
            return i
        level = min(level, value)
    return None


def falls(sqnr: list[float], start_db: float = CEILING_DB) -> list[float]:
    """How far each layer falls below the worst before it (as first_departure): what the margins bound."""
    level, found = min(CEILING_DB, start_db), []
    for value in sqnr:
        found.append(round(level - value, 2))
        level = min(level, value)
    return found


def compare(tapped: Tapped, outputs: list[list[torch.Tensor]]) -> dict[str, Any]:
    """Per-layer SQNR of an executor's taps (`outputs`: flat outputs per sample) and the first departures."""
    outputs = [_flat(o) for o in outputs]
    # Each layer's own error: the program against quantized eager fed the program's own taps, and
    # quantized eager against eager fed quantized eager's (what the layer adds, not what it inherits).
    taps = [layer.output_index for layer in tapped.layers]
    stood_in: dict[int, float] = {}
    own_q = own_values(tapped.lowered.quantized_module, tapped.samples, outputs, taps, stood_in) if tapped.samples else None
    own_e = tapped.quantizer_own
    rows, vs_q, vs_e, q_vs_e, own_steps, own_db = [], [], [], [], [], []
    for layer in tapped.layers:
        i = layer.output_index
        actual, quantized, eager = _joined(outputs, i), _joined(tapped.quantized, i), _joined(tapped.eager, i)
        vs_q.append(sqnr_db(actual, quantized))
        vs_e.append(sqnr_db(actual, eager))
        q_vs_e.append(sqnr_db(quantized, eager))
        steps = float((actual - quantized).abs().max()) / layer.scale if layer.scale else None
        own_e_db, own_db_here, own_steps_here = None, None, None
        if own_q is not None and all(o[i] is not None for o in own_q):
            own = _joined(own_q, i)
            own_db_here = round(sqnr_db(actual, own), 2)
            # rounded: two dequantized copies of one grid value differ by float32 noise, not by steps
            own_steps_here = round(float((actual - own).abs().max()) / layer.scale, 3) if layer.scale else None
        own_db.append(own_db_here)
        own_steps.append(own_steps_here)
        if own_e is not None and all(o[i] is not None for o in own_e):
            own_e_db = round(sqnr_db(quantized, _joined(own_e, i)), 2)
        rows.append([layer.name, layer.op, round(vs_q[-1], 2), round(vs_e[-1], 2), round(q_vs_e[-1], 2),
                     None if steps is None else round(steps, 2),
                     own_db_here, None if own_steps_here is None else round(own_steps_here, 2), own_e_db, layer.runs_on,
                     stood_in.get(i)])
    start = tapped.input_sqnr_db  # against eager, the program's input already carries its quantization
    known = [(i, steps) for i, steps in enumerate(own_steps) if steps is not None]
    if known:  # a layer's own error decides; what it inherited does not
        departed = [i for i, steps in known if not steps <= _own_bound(tapped.layers[i])]
        # A layer with no own error (a grid per channel, a tap coarser than its tensor) keeps the fall rule.
        fell = falls(vs_q)
        departed += [i for i, steps in enumerate(own_steps) if steps is None and fell[i] > MARGIN_VS_QUANTIZED_DB]
        kernel = min(departed, default=None)
    else:
        kernel = first_departure(vs_q, MARGIN_VS_QUANTIZED_DB)
    from_eager = first_departure(vs_e, MARGIN_VS_EAGER_DB, start)
    found: dict[str, Any] = {
        "columns": ["layer", "op", "sqnr_vs_quantized_db", "sqnr_vs_eager_db", "quantized_vs_eager_db", "max_err_qsteps",
                    "own_sqnr_vs_quantized_db", "own_err_qsteps", "quantizer_own_sqnr_db", "runs_on",
                    # the share of elements where the tap's grid saturated and quantized eager's own input stood in
                    "own_input_stood_in_share"],
        "layers": rows,
        "margins_db": {"vs_quantized": MARGIN_VS_QUANTIZED_DB, "vs_eager": MARGIN_VS_EAGER_DB, "ceiling": CEILING_DB},
        "input_sqnr_db": round(start, 2),
        "largest_fall_db": {"vs_quantized": max(falls(vs_q), default=0.0), "vs_eager": max(falls(vs_e, start), default=0.0),
                            "quantized_vs_eager": max(falls(q_vs_e, start), default=0.0)},
        "tapping": tapped.changed,
        "own_error": _largest_own(rows, known, own_db, max((_own_bound(layer) for layer in tapped.layers), default=OWN_MAX_QSTEPS)),
        "first_departure": None,
        "first_departure_from_eager": None,
    }
    if from_eager is not None:
        # Off eager = the quantizer's error plus the kernel's: the larger (lower SQNR) names the cause.
        kind = "quantizer" if q_vs_e[from_eager] < vs_q[from_eager] else "kernel"
        if kind == "kernel" and len(known) == len(own_steps) and kernel is None:
            kind = "propagated"  # every layer within a rounding step of quantized eager: the network amplifies them
        found["first_departure_from_eager"] = _departure(rows[from_eager], kind, vs_e[from_eager], "vs eager")
    if kernel is not None and (from_eager is None or kernel < from_eager or found["first_departure_from_eager"]["kind"] == "kernel"):
        found["first_departure"] = _departure(rows[kernel], "kernel", vs_q[kernel], "vs quantized eager")
        if known:
            found["first_departure"]["own_err_qsteps"] = round(own_steps[kernel], 2)
    elif from_eager is not None:
        found["first_departure"] = found["first_departure_from_eager"]
    found["verdict"] = verdict_line(found)
    return found


def _own_bound(layer: Layer) -> float:
    """OWN_MAX_QSTEPS, and one step of the grid the tap reports on, in the tensor's steps."""
    finer = layer.reported is not None and layer.scale is not None and layer.reported < layer.scale
    return OWN_MAX_QSTEPS + (layer.reported / layer.scale if finer else 0.0)


def _largest_own(rows: list[list[Any]], known: list[tuple[int, float]], own_db: list[float | None],
                 bound: float) -> dict[str, Any] | None:
    """The layer with the largest own error, and the largest bound a layer is held to (None: no own errors measured)."""
    if not known:
        return None
    at, steps = max(known, key=lambda pair: pair[1])
    # Where the program rounds off quantized eager in the most elements: the lowest own SQNR.
    most = min((i for i, _ in known if own_db[i] is not None), key=lambda i: own_db[i], default=at)
    return {"layer": rows[at][0], "op": rows[at][1], "qsteps": round(steps, 2), "bound_qsteps": round(bound, 2),
            "output_sqnr_vs_quantized_db": rows[-1][2],
            "lowest": {"layer": rows[most][0], "op": rows[most][1], "own_sqnr_db": own_db[most]}}


def _departure(row: list[Any], kind: str, sqnr: float, against: str) -> dict[str, Any]:
    return {"layer": row[0], "op": row[1], "kind": kind, "sqnr_db": round(sqnr, 2), "against": against}


def verdict_line(found: dict[str, Any]) -> str:
    """One line: the first departure (kernel or quantizer), or that no layer departs."""
    first, own = found.get("first_departure"), found.get("own_error")
    if first is None and own:
        lowest, last = own["lowest"], own["output_sqnr_vs_quantized_db"]
        amplified = last < lowest["own_sqnr_db"] - MARGIN_VS_QUANTIZED_DB  # far below what any layer adds itself
        return (f"first departure: none (every layer within {own['bound_qsteps']:g} step of quantized eager from its own "
                f"inputs; most roundings at {lowest['layer']} ({lowest['op']}, own SQNR {lowest['own_sqnr_db']:.1f} dB); "
                f"the last tap is {min(last, CEILING_DB):.1f} dB from quantized eager"
                + (": the network amplifies the roundings)" if amplified else ")"))
    if first is None:
        return "first departure: none (no layer falls more than the margin below the layers before it)"
    return f"first departure: {first['layer']} ({first['op']}), {first['kind']}: {first['sqnr_db']:.1f} dB {first['against']}"


def tapping_changes(tapped: Lowered, untapped: dict[str, Any], quantized_same: bool) -> dict[str, Any]:
    """Whether tapping changed the partitioning or the quantization of the program."""
    return {
        "partitions": [untapped.get("partitions"), tapped.delegation["partitions"]],
        "delegated_nodes": [untapped.get("delegated_nodes"), tapped.delegation["delegated_nodes"]],
        "undelegated_ops": [untapped.get("undelegated_ops"), tapped.delegation["undelegated_ops"]],
        "partitioning_changed": untapped.get("partitions") != tapped.delegation["partitions"]
        or untapped.get("undelegated_ops") != tapped.delegation["undelegated_ops"],
        "quantization_changed": not quantized_same,
    }


class Localizer:
    """For one case on one target: one tapped lowering, then each executor's taps compared."""

    def __init__(self, built: Built, target: Target, workdir: Path, untapped: dict[str, Any]):
        self.built, self.target, self.workdir = built, target, workdir / "localize"
        self.untapped = untapped  # the untapped program's delegation summary
        self.tapped: Tapped | None = None

    def run(self, executor: Any, quantized_outputs: list[Any] | None) -> dict[str, Any]:
        """`quantized_outputs`: quantized eager's outputs of the untapped program, one per sample."""
        if not self.target.quantized:
            raise ValueError("float target: localizing needs the quantized tensors to tap at (not yet)")
        if self.tapped is None:
            self.tapped = tap(self.built, self.target, self.workdir)
            first_tap = min(layer.output_index for layer in self.tapped.layers)
            same = quantized_outputs is not None and all(
                torch.equal(a, b) for outs, ref in zip(self.tapped.quantized, quantized_outputs)
                for a, b in zip(outs[:first_tap], _flat(ref)))
            self.tapped.changed = tapping_changes(self.tapped.lowered, self.untapped, same)
        outputs = [executor.run(self.tapped.lowered, sample, (0, 1)).outputs for sample in self.built.samples]
        found = compare(self.tapped, outputs)
        found["executor"] = executor.name
        found["pte"] = str(self.tapped.lowered.pte_path)
        return found
