"""One lowering per case and target, serving every executor.

export -> quantize (INT targets) -> lower (+ Vela for Ethos-U) -> serialize.
Every exception is attributed to the stage that raised it.
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils import _pytree as pytree

from etconform.cases import Inputs, shapes_for
from etconform.lowering.rejections import capture_rejections
from etconform.lowering.scales import ScaleReport, check_scales, constant_arg, level_findings, weight_grids
from etconform.lowering.vela import capture_vela_calls, digest, total_estimate
from etconform.stages import Stage, StageError, stage
from etconform.targets import SourceTransform, Target

# Non-delegated nodes that are glue, not compute: a case whose only CPU nodes are
# these is fully delegated, unless they sit between partitions (_between_partitions).
_GLUE_PREFIXES = ("getitem", "quantized_decomposed_", "dim_order_ops_")

QParams = tuple[float, int, int, int]  # scale, zero point, qmin, qmax


@dataclass
class Delegate:
    name: str  # lowered_module_N, as in the graph
    backend_id: str
    digest: str  # sha256 of the processed bytes: identifies the delegate in any copy of the graph
    tosa: bytes | None  # the TOSA graph this delegate runs (for Ethos-U: what Vela compiled)
    vela: dict[str, Any] = field(default_factory=dict)


@dataclass
class Lowered:
    target: Target
    quantized_module: torch.fx.GraphModule | None
    output_qparams: list[QParams | None]
    input_qparams: list[QParams | None]
    edge_program: Any  # torch.export.ExportedProgram in the edge dialect, delegates inside
    pte: bytes
    pte_path: Path
    delegates: list[Delegate]
    delegation: dict[str, Any]
    seconds: dict[str, float]
    scales: ScaleReport | None = None  # the quantizer's steps checked against calibration (None: float target)
    quantized_inside: bool = False  # whether the quantizer put any tensor of the program on an integer grid
    output_specs: list[tuple[torch.dtype, tuple[int, ...]]] = field(default_factory=list)  # of the program's outputs
    # The fewest bits any quantized weight has (None: no quantized weight): an a16w8 program's
    # error against eager is counted in steps of the 8-bit weights' precision, not the output's.
    weight_bits: int | None = None
    # Restored from the artifact cache: the edge program and quantized module are None then.
    from_cache: bool = False

    @property
    def output_scales(self) -> list[float | None]:
        return [q[0] if q is not None else None for q in self.output_qparams]

    @property
    def eager_scales(self) -> list[float | None]:
        """The steps errors against eager are counted in: the output's, or, when the weights are
        coarser than the output grid (a16w8), an output step as coarse as the weights' precision."""
        found = []
        for q in self.output_qparams:
            if q is None or self.weight_bits is None:
                found.append(q[0] if q is not None else None)
                continue
            out_bits = math.ceil(math.log2(q[3] - q[2] + 1))
            found.append(q[0] * 2.0 ** max(out_bits - self.weight_bits, 0))
        return found

    @property
    def vela_estimate(self) -> dict[str, Any]:
        return total_estimate([d.vela for d in self.delegates if d.vela])

    @property
    def fully_delegated(self) -> bool:
        return self.delegation["partitions"] > 0 and not self.delegation["undelegated_ops"]


@contextlib.contextmanager
def _timed(seconds: dict[str, float], name: Stage) -> Iterator[None]:
    """Add the block's time to seconds[name]: a quantized case exports twice."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        seconds[name.value] = round(seconds.get(name.value, 0.0) + time.perf_counter() - t0, 4)


def _qparams(graph_module: torch.fx.GraphModule, node: torch.fx.Node) -> QParams | None:
    """(scale, zero point, qmin, qmax) of a per-tensor (de)quantize node; None if per channel."""
    scale, zero_point, qmin, qmax = (constant_arg(graph_module, a) for a in node.args[1:5])
    if not all(isinstance(v, (int, float)) for v in (scale, zero_point, qmin, qmax)):
        return None
    return float(scale), int(zero_point), int(qmin), int(qmax)


def weight_bits(graph_module: torch.fx.GraphModule) -> int | None:
    """The fewest bits of any constant (a weight) that a dequantize reads; None if none is quantized."""
    found = [math.ceil(math.log2(qmax - qmin + 1)) for _, qmin, qmax in weight_grids(graph_module)]
    return min(found) if found else None


def output_qparams(graph_module: torch.fx.GraphModule) -> list[QParams | None]:
    """The grid of each output of a PT2E-converted module, from its dequantize (None: float)."""
    outs = graph_module.graph.output_node().args[0]
    found: list[QParams | None] = []
    for arg in outs if isinstance(outs, (list, tuple)) else [outs]:
        qparams = None
        if isinstance(arg, torch.fx.Node) and "dequantize_per_tensor" in str(arg.target):
            qparams = _qparams(graph_module, arg)
        found.append(qparams)
    return found


def input_qparams(graph_module: torch.fx.GraphModule) -> list[QParams | None]:
    """(scale, zero point, qmin, qmax) with which each input is quantized, None if it is not."""
    found: list[QParams | None] = []
    for node in graph_module.graph.find_nodes(op="placeholder"):
        qparams = None
        for user in node.users:
            if "quantize_per_tensor" in str(user.target) and "dequantize" not in str(user.target):
                qparams = _qparams(graph_module, user)
        found.append(qparams)
    return found


def fake_quantize(inputs: Inputs, qparams: list[QParams | None]) -> Inputs:
    """Inputs rounded to the grid they are quantized on: what the quantized program sees."""
    rounded = []
    for x, q in zip(inputs, qparams):
        if q is None or not x.is_floating_point():
            rounded.append(x)
            continue
        scale, zero_point, qmin, qmax = q
        rounded.append((torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale)
    return tuple(rounded)


def clamp_to_output_grid(outputs: Any, qparams: list[QParams | None]) -> Any:
    """Eager outputs clamped to the range each quantized output can represent.

    An input beyond the calibrated range saturates the quantized output; that is the
    quantization's doing, not the backend's. Float (None), integer and bool outputs are
    left alone. `outputs` is a tensor or any pytree of them, flattened as export does.
    """
    leaves, spec = pytree.tree_flatten(outputs)
    if len(leaves) != len(qparams):
        raise ValueError(f"{len(leaves)} outputs but {len(qparams)} output grids")
    return pytree.tree_unflatten([_clamp(x, q) for x, q in zip(leaves, qparams)], spec)


def _clamp(x: Any, q: QParams | None) -> Any:
    if q is None or not isinstance(x, torch.Tensor) or not x.is_floating_point():
        return x
    scale, zero_point, qmin, qmax = q
    return torch.clamp(x, scale * (qmin - zero_point), scale * (qmax - zero_point))


def prepare_pt2e(module: torch.fx.GraphModule, quantizer: Any) -> torch.fx.GraphModule:
    # Imported on use: torchao takes seconds to import, which collection should not pay.
    from torchao.quantization.pt2e.quantize_pt2e import prepare_pt2e as prepare

    return prepare(module, quantizer)


def convert_pt2e(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
    """torchao's convert_pt2e; a name of this module, so a test can corrupt what it returns."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e as convert

    return convert(prepared)


def delegation_summary(graph_module: torch.fx.GraphModule) -> dict[str, Any]:
    from executorch.devtools.backend_debug import get_delegation_info

    info = get_delegation_info(graph_module)
    undelegated = {
        op: b.non_delegated
        for op, b in sorted(info.delegation_by_operator.items())
        if b.non_delegated and not op.startswith(_GLUE_PREFIXES)
    }
    return {
        "delegated_nodes": info.num_delegated_nodes,
        "total_nodes": info.num_delegated_nodes + info.num_non_delegated_nodes,
        "partitions": info.num_delegated_subgraphs,
        "undelegated_ops": undelegated,
        # Every compute op in the graph, delegated or not: which op failing graphs have in common.
        "ops": {op: b.delegated + b.non_delegated for op, b in sorted(info.delegation_by_operator.items())
                if not op.startswith(_GLUE_PREFIXES)},
        "glue_between_partitions": _between_partitions(graph_module),
    }


def _op_type(node: torch.fx.Node) -> str:
    return re.sub(r"_\d+$", "", node.name)  # as get_delegation_info names them: aten_add_tensor_3 -> aten_add_tensor


def _between_partitions(graph_module: torch.fx.GraphModule) -> dict[str, int]:
    """{op: count} of casts and (de)quantizes on the CPU that only carry one delegate's outputs to
    another's inputs: work the CPU does because the graph was split, which the contract counts as compute."""
    def delegate(n: torch.fx.Node) -> bool:
        return n.op == "call_function" and _op_type(n) == "executorch_call_delegate"

    def glue(n: torch.fx.Node) -> bool:
        return n.op == "call_function" and _op_type(n).startswith(_GLUE_PREFIXES[1:])

    def from_delegate(n: torch.fx.Node) -> bool:
        if delegate(n):
            return True
        if n.op == "call_function" and _op_type(n) == "getitem":
            return all(map(from_delegate, n.all_input_nodes))
        return glue(n) and bool(n.all_input_nodes) and all(map(from_delegate, n.all_input_nodes))

    def to_delegate(n: torch.fx.Node) -> bool:
        return bool(n.users) and all(delegate(u) or (glue(u) and to_delegate(u)) for u in n.users)

    found: dict[str, int] = {}
    for n in graph_module.graph.nodes:
        if glue(n) and from_delegate(n) and to_delegate(n):
            found[_op_type(n)] = found.get(_op_type(n), 0) + 1
    return dict(sorted(found.items()))


# PT2E's (de)quantize and dynamic choose_qparams, and torchao's affine (de)quantize (8da4w).
_GRID_OPS = ("quantize_per", "dequantize_per", "getitem", "choose_qparams", "quantize_affine")


def float_delegated_ops(graph_module: torch.fx.GraphModule, dynamic_ops: tuple[str, ...] = ()) -> dict[str, int]:
    """Compute ops that a delegate runs in float: {op: count}.

    On an integer target every delegated op should sit between a dequantize and a
    quantize: its float inputs come off an integer grid and its output goes back onto
    one. An op fed by a float activation that no dequantize produced, or whose float
    output leaves the delegate without a quantize, is computed in float.
    `dynamic_ops`: a dynamic recipe quantizes only these ops' inputs, at run time, and
    leaves their outputs and every other op in float by design: only these are checked.
    """
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    found: dict[str, int] = {}
    for module in graph_module.children():
        if not isinstance(module, LoweredBackendModule):
            continue
        program = module.original_module
        graph = program.graph_module.graph
        user_inputs = set(program.graph_signature.user_inputs)

        def is_float(node: torch.fx.Node) -> bool:
            val = node.meta.get("val")
            return isinstance(val, torch.Tensor) and val.is_floating_point()

        def on_grid(node: torch.fx.Node) -> bool:
            return node.op == "call_function" and any(g in str(node.target) for g in _GRID_OPS)

        fed_float: set[torch.fx.Node] = set()  # float data that came off no grid
        for node in graph.nodes:
            if node.op == "placeholder" and node.name in user_inputs and is_float(node):
                fed_float.add(node)
            elif node.op == "call_function" and not on_grid(node) and is_float(node):
                if any(a in fed_float for a in node.all_input_nodes):
                    fed_float.add(node)
        leaves_float: set[torch.fx.Node] = set()  # float data that reaches an output on no grid
        stack = [] if dynamic_ops else [a for a in graph.output_node().all_input_nodes]
        while stack:
            node = stack.pop()
            if node in leaves_float or node.op != "call_function" or on_grid(node) or not is_float(node):
                continue
            leaves_float.add(node)
            stack += node.all_input_nodes
        for node in fed_float | leaves_float:
            if node.op == "call_function":
                name = getattr(node.target, "__name__", str(node.target))
                if dynamic_ops and not name.startswith(dynamic_ops):
                    continue
                found[name] = found.get(name, 0) + 1
    return dict(sorted(found.items()))


def _delegates(graph_module: torch.fx.GraphModule, vela_calls: dict[str, Any]) -> list[Delegate]:
    from executorch.exir.lowered_backend_module import LoweredBackendModule

    found = []
    for name, module in graph_module.named_children():
        if not isinstance(module, LoweredBackendModule):
            continue
        tosa, vela = None, {}
        if module.backend_id == "TOSABackend":
            tosa = module.processed_bytes
        call = vela_calls.get(digest(module.processed_bytes))
        if call is not None:
            tosa, vela = call.tosa, call.summary
        found.append(Delegate(name, module.backend_id, digest(module.processed_bytes), tosa, vela))
    return found


def lower(
    module: torch.nn.Module, inputs: Inputs, target: Target, workdir: Path, calibration: list[Inputs] | None = None,
    exported: tuple[Any, float] | None = None, tapped: bool = False, dynamic_shapes: Any = None,
) -> Lowered:
    """Lower `module` for `target`; artifacts (the .pte, TOSA, Vela output) go to `workdir`.

    Quantized targets calibrate on `calibration` (default: the example inputs themselves).
    `exported`: (torch.export of (module, inputs), seconds it took), made already for the cache key.
    `tapped`: `exported` carries intermediate-output taps (etconform.analysis.localize), replaced by
    identities after partitioning so that the delegates keep the tapped tensors as outputs.
    `dynamic_shapes`: torch.export's, for every export here (etconform.cases.Case.dynamic_shapes).
    """
    from executorch.exir import to_edge_transform_and_lower

    workdir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    with stage(Stage.LOWER):
        partitioner, quantizer = target.make(workdir)

    quantized, out_qparams, in_qparams, scale_report = None, [], [], None
    if isinstance(quantizer, SourceTransform):
        # The recipe rewrites the eager module; the rewritten module is the reference and is what is exported.
        with stage(Stage.QUANTIZE), _timed(seconds, Stage.QUANTIZE):
            quantized = quantizer.apply(copy.deepcopy(module)).eval()
        with stage(Stage.EXPORT), _timed(seconds, Stage.EXPORT):
            program = torch.export.export(quantized, inputs, dynamic_shapes=shapes_for(quantized, dynamic_shapes))
        in_qparams = [None] * len(inputs)
        out_qparams = [None] * len(program.graph_signature.user_outputs)  # all float: read off the graph, not run
        quantizer = None
    elif exported is not None:
        program, seconds[Stage.EXPORT.value] = exported
    else:
        with stage(Stage.EXPORT), _timed(seconds, Stage.EXPORT):
            program = torch.export.export(module, inputs, dynamic_shapes=shapes_for(module, dynamic_shapes))

    if quantizer is not None:
        with stage(Stage.QUANTIZE), _timed(seconds, Stage.QUANTIZE):
            # check_guards=False: torch 2.14 leaves a _guards_fn call_module the Arm passes reject.
            prepared = prepare_pt2e(program.module(check_guards=False), quantizer)
            for sample in calibration or [inputs]:
                prepared(*sample)
            quantized = convert_pt2e(prepared)
            out_qparams = output_qparams(quantized)
            in_qparams = input_qparams(quantized)
            # Findings are not raised: the runner turns them into a verdict and the executors still run.
            scale_report = check_scales(quantized, calibration or [inputs], min_step=target.min_step)
            # A grid narrower than the target declares is not the target's format: nothing to lower.
            narrow = level_findings(quantized, target.formats.activation_bits, target.formats.weight_bits) \
                if target.formats is not None else []
            if narrow:
                raise StageError(Stage.QUANTIZE, "; ".join(narrow))
        with stage(Stage.EXPORT), _timed(seconds, Stage.EXPORT):
            program = torch.export.export(quantized, inputs, dynamic_shapes=shapes_for(quantized, dynamic_shapes))

    with stage(Stage.LOWER), _timed(seconds, Stage.LOWER), capture_vela_calls() as vela_calls, capture_rejections() as rejected:
        edge = to_edge_transform_and_lower(program, partitioner=[partitioner])
        if tapped:
            from executorch.devtools.intermediate_output_tap import strip_taps_

            strip_taps_(edge)
    graph_module = edge.exported_program().graph_module
    delegates = _delegates(graph_module, vela_calls)
    delegation = delegation_summary(graph_module)
    delegation["rejected"] = rejected
    if target.quantized:
        delegation["float_ops"] = float_delegated_ops(graph_module, target.dynamic_ops)
    # to_executorch rewrites the graph in place (out variants, memory planning); the host
    # executors run the edge program as lowered, so keep a copy of it.
    edge_program = copy.deepcopy(edge.exported_program())
    if target.backend == "ethos_u" and any(d.vela == {} for d in delegates):
        raise StageError(Stage.VELA, "a delegate has no Vela summary: Vela did not run or wrote none")

    with stage(Stage.SERIALIZE), _timed(seconds, Stage.SERIALIZE):
        pte = edge.to_executorch().buffer
        pte_path = workdir / "program.pte"
        pte_path.write_bytes(pte)

    return Lowered(
        target=target,
        quantized_module=quantized,
        output_qparams=out_qparams,
        input_qparams=in_qparams,
        edge_program=edge_program,
        pte=pte,
        pte_path=pte_path,
        delegates=delegates,
        delegation=delegation,
        seconds=seconds,
        scales=scale_report,
        quantized_inside=any("quantize" in str(n.target) for n in program.graph.nodes),
        weight_bits=weight_bits(quantized) if isinstance(quantized, torch.fx.GraphModule) else None,
        output_specs=_output_specs(edge_program),
    )


def _output_specs(program: Any) -> list[tuple[torch.dtype, tuple[int, ...]]]:
    """(dtype, shape) of each output of the edge program: how a board's raw output bytes decode."""
    node = program.graph_module.graph.output_node()
    outs = node.args[0] if isinstance(node.args[0], (list, tuple)) else [node.args[0]]
    # A dynamic dim is -1: a board's outputs of a dynamic program are not decoded from this.
    return [(o.meta["val"].dtype, tuple(d if isinstance(d, int) else -1 for d in o.meta["val"].shape)) for o in outs]
