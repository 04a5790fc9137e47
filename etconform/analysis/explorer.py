"""Model Explorer node data for a lowered program: where each instruction runs, and the error.

Open a model with them (pip install ai-edge-model-explorer executorch-extension-model-explorer):
    model-explorer program.pte --extensions=executorch_extension_model_explorer \\
        --node_data_paths=program.placement.json,program.error.json,program.layers.json
program.layers.json (from `--localize`) colours each delegate call by the worst per-layer
SQNR against quantized eager of the layers inside it, and names its first departing layer.
Node ids are the PTE adapter's: the graph is the execution plan ("forward") and
instruction k of chain c is "<plan>_<c>_<k>". The error is known for the whole program
only (its outputs against eager), so it colours the delegate calls that produced it.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

BACKEND_COLOURS = {"XnnpackBackend": "#4c9be8", "EthosUBackend": "#2ca02c", "TOSABackend": "#9467bd"}
OTHER_DELEGATE = "#17becf"
CPU, GLUE = "#f28e2b", "#d9d9d9"  # glue: quantize/dequantize and layout kernels around the delegates
_GLUE = ("quantized_decomposed::", "dim_order_ops::", "aten::_to_copy")
# SQNR (dB) of the whole program against eager: thresholds as Model Explorer applies them (<= value).
SQNR_THRESHOLDS = [{"value": 10, "bgColor": "#d62728"}, {"value": 20, "bgColor": "#ff7f0e"},
                   {"value": 30, "bgColor": "#ffdd57"}, {"value": 1000, "bgColor": "#2ca02c"}]


def instructions(pte: bytes) -> list[tuple[str, str, str]]:
    """(graph id, node id, where it runs) for every kernel and delegate call in the program."""
    from executorch.exir._serialize._program import deserialize_pte_binary

    program = deserialize_pte_binary(pte).program
    found = []
    for p, plan in enumerate(program.execution_plan):
        graph = plan.name or f"ExecutionPlan_{p}"
        calls: collections.Counter[str] = collections.Counter()
        for c, chain in enumerate(plan.chains):
            for k, instruction in enumerate(chain.instructions):
                args = instruction.instr_args
                if hasattr(args, "delegate_index"):
                    backend = plan.delegates[args.delegate_index].id
                    where = f"{backend} #{calls[backend]}"
                    calls[backend] += 1
                elif hasattr(args, "op_index"):
                    op = plan.operators[args.op_index].name
                    where = "CPU (glue)" if op.startswith(_GLUE) else f"CPU: {op}"
                else:
                    continue
                found.append((graph, f"{graph}_{c}_{k}", where))
    return found


def _colour(where: str) -> str:
    if where.startswith("CPU (glue)"):
        return GLUE
    if where.startswith("CPU"):
        return CPU
    return BACKEND_COLOURS.get(where.split(" #")[0], OTHER_DELEGATE)


def placement(pte: bytes) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for graph, node, where in instructions(pte):
        entry = data.setdefault(graph, {"name": "where it runs", "results": {}, "showExpandedSummaryOnGroupNode": True,
                                        "showLabelCountColumnsInChildrenStatsTable": True})
        entry["results"][node] = {"value": where, "bgColor": _colour(where)}
    return data


def error(pte: bytes, sqnr_db: float, executor: str) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for graph, node, where in instructions(pte):
        entry = data.setdefault(graph, {"name": f"SQNR vs eager, dB ({executor}, whole program)", "results": {},
                                        "thresholds": SQNR_THRESHOLDS})
        if not where.startswith("CPU"):
            entry["results"][node] = {"value": sqnr_db}
    return data


def write_placement(pte_path: Path) -> Path:
    path = pte_path.with_suffix(".placement.json")
    path.write_text(json.dumps(placement(pte_path.read_bytes()), indent=1))
    return path


def write_error(pte_path: Path, records: list[dict[str, Any]]) -> Path | None:
    """program.error.json from the worst lowered executor's SQNR, when one compared the outputs."""
    compared = [r for r in records if "sqnr_db" in (r.get("metrics") or {}) and r.get("role") == "lowered"]
    if not compared:
        return None
    worst = min(compared, key=lambda r: r["metrics"]["sqnr_db"])
    path = pte_path.with_suffix(".error.json")
    path.write_text(json.dumps(error(pte_path.read_bytes(), worst["metrics"]["sqnr_db"], worst["executor"]), indent=1))
    return path


def layers(pte: bytes, localization: dict[str, Any]) -> dict[str, Any]:
    """Per delegate call: the worst layer SQNR vs quantized eager inside it, from a localization."""
    columns = localization["columns"]
    name, sqnr, home = columns.index("layer"), columns.index("sqnr_vs_quantized_db"), columns.index("runs_on")
    data: dict[str, Any] = {}
    for graph, node, where in instructions(pte):
        entry = data.setdefault(graph, {"name": f"worst layer SQNR vs quantized eager, dB ({localization['executor']})",
                                        "results": {}, "thresholds": SQNR_THRESHOLDS})
        inside = [row for row in localization["layers"] if row[home] == where]
        if inside:
            worst = min(inside, key=lambda row: row[sqnr])
            entry["results"][node] = {"value": worst[sqnr], "label": f"{worst[name]}; {localization['verdict']}"}
    return data


def write_layers(pte_path: Path, records: list[dict[str, Any]]) -> Path | None:
    """program.layers.json from the first localization whose tapping left the partitioning as it was."""
    found = [r["localization"] for r in records if (r.get("localization") or {}).get("layers")]
    usable = [f for f in found if not f["tapping"].get("partitioning_changed")]
    if not usable:
        return None
    path = pte_path.with_suffix(".layers.json")
    path.write_text(json.dumps(layers(pte_path.read_bytes(), usable[0]), indent=1))
    return path
