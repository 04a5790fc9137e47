"""One lowering per case and target, serving every executor.

export -> quantize (INT targets) -> lower (+ Vela for Ethos-U) -> serialize.
Every exception is attributed to the stage that raised it.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from etconform.cases import Inputs
from etconform.rejections import capture_rejections
from etconform.stages import Stage, StageError, stage
from etconform.targets import Target
from etconform.vela import capture_vela_calls, digest, total_estimate

# Non-delegated nodes that are glue, not compute: a case whose only CPU nodes are
# these is fully delegated.
_GLUE_PREFIXES = ("getitem", "quantized_decomposed_", "dim_order_ops_")


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
    output_scales: list[float | None]
    input_qparams: list[tuple[float, int, int, int] | None]
    edge_program: Any  # torch.export.ExportedProgram in the edge dialect, delegates inside
    pte: bytes
    pte_path: Path
    delegates: list[Delegate]
    delegation: dict[str, Any]
    seconds: dict[str, float]

    @property
    def vela_estimate(self) -> dict[str, Any]:
        return total_estimate([d.vela for d in self.delegates if d.vela])

    @property
    def quantized_inside(self) -> bool:
        """Whether the quantizer put any tensor of the program on an integer grid."""
        graph = self.quantized_module.graph if self.quantized_module is not None else None
        return graph is not None and any("quantize_per" in str(n.target) for n in graph.nodes)

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


def _constant(graph_module: torch.fx.GraphModule, value: Any) -> Any:
    if isinstance(value, torch.fx.Node) and value.op == "get_attr":
        value = getattr(graph_module, str(value.target))
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    return value


def output_scales(graph_module: torch.fx.GraphModule) -> list[float | None]:
    """The output quantization step of each output of a PT2E-converted module (None: float)."""
    outs = graph_module.graph.output_node().args[0]
    scales: list[float | None] = []
    for arg in outs if isinstance(outs, (list, tuple)) else [outs]:
        scale = None
        if isinstance(arg, torch.fx.Node) and "dequantize" in str(arg.target):
            raw = _constant(graph_module, arg.args[1])
            scale = float(raw) if isinstance(raw, (int, float)) else None
        scales.append(scale)
    return scales


def input_qparams(graph_module: torch.fx.GraphModule) -> list[tuple[float, int, int, int] | None]:
    """(scale, zero point, qmin, qmax) with which each input is quantized, None if it is not."""
    found: list[tuple[float, int, int, int] | None] = []
    for node in graph_module.graph.find_nodes(op="placeholder"):
        qparams = None
        for user in node.users:
            if "quantize_per_tensor" in str(user.target) and "dequantize" not in str(user.target):
                scale, zero_point, qmin, qmax = (_constant(graph_module, a) for a in user.args[1:5])
                qparams = (float(scale), int(zero_point), int(qmin), int(qmax))
        found.append(qparams)
    return found


def fake_quantize(inputs: Inputs, qparams: list[tuple[float, int, int, int] | None]) -> Inputs:
    """Inputs rounded to the grid they are quantized on: what the quantized program sees."""
    rounded = []
    for x, q in zip(inputs, qparams):
        if q is None or not x.is_floating_point():
            rounded.append(x)
            continue
        scale, zero_point, qmin, qmax = q
        rounded.append((torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale)
    return tuple(rounded)


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
    }


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
    module: torch.nn.Module, inputs: Inputs, target: Target, workdir: Path, calibration: list[Inputs] | None = None
) -> Lowered:
    """Lower `module` for `target`; artifacts (the .pte, TOSA, Vela output) go to `workdir`.

    Quantized targets calibrate on `calibration` (default: the example inputs themselves).
    """
    from executorch.exir import to_edge_transform_and_lower

    workdir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    with stage(Stage.LOWER):
        partitioner, quantizer = target.make(workdir)

    with stage(Stage.EXPORT), _timed(seconds, Stage.EXPORT):
        program = torch.export.export(module, inputs)

    quantized, scales, in_qparams = None, [], []
    if quantizer is not None:
        with stage(Stage.QUANTIZE), _timed(seconds, Stage.QUANTIZE):
            from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

            # check_guards=False: torch 2.14 leaves a _guards_fn call_module the Arm passes reject.
            prepared = prepare_pt2e(program.module(check_guards=False), quantizer)
            for sample in calibration or [inputs]:
                prepared(*sample)
            quantized = convert_pt2e(prepared)
            scales = output_scales(quantized)
            in_qparams = input_qparams(quantized)
        with stage(Stage.EXPORT), _timed(seconds, Stage.EXPORT):
            program = torch.export.export(quantized, inputs)

    with stage(Stage.LOWER), _timed(seconds, Stage.LOWER), capture_vela_calls() as vela_calls, capture_rejections() as rejected:
        edge = to_edge_transform_and_lower(program, partitioner=[partitioner])
    graph_module = edge.exported_program().graph_module
    delegates = _delegates(graph_module, vela_calls)
    delegation = delegation_summary(graph_module)
    delegation["rejected"] = rejected
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
        output_scales=scales,
        input_qparams=in_qparams,
        edge_program=edge_program,
        pte=pte,
        pte_path=pte_path,
        delegates=delegates,
        delegation=delegation,
        seconds=seconds,
    )
