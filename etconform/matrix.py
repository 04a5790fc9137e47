"""The support matrix: operators x targets, built from records alone.

A case's outcome on a target is the worst over its executors' records; an operator's
cell counts its cases by outcome. A mismatch of a program the partitioner took (it
claimed support, then computed a wrong answer) is counted apart as `wrong_delegated`:
the most serious finding.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from etconform.records import write_atomic

# Worst first. `wrong_delegated` is a mismatch inside a delegate.
SEVERITY = ("wrong_delegated", "mismatch", "fail", "error", "xfail", "fallback", "pass", "skip", "info")


def _record_outcome(record: dict[str, Any]) -> str:
    outcome = record["outcome"]
    delegated = (record.get("delegation") or {}).get("partitions", 0) > 0
    metrics, tolerance = record.get("metrics") or {}, record.get("tolerance") or {}
    # A quantized program that matches quantized eager is off by the quantization, not the delegate.
    if "cosine_vs_quantized" in metrics and "min_cosine_vs_quantized" in tolerance:  # models
        lowering_wrong = metrics["cosine_vs_quantized"] < tolerance["min_cosine_vs_quantized"]
    elif "matches_quantized" in metrics:  # an output left in float: no steps to count
        lowering_wrong = not metrics["matches_quantized"]
    else:
        steps, bound = metrics.get("max_err_qsteps"), tolerance.get("qtol_steps")
        lowering_wrong = steps is None or bound is None or steps > bound
    if outcome == "mismatch" and delegated and lowering_wrong and record["executor"] != "quantized_eager":
        return "wrong_delegated"
    return outcome


def case_outcomes(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """{(subject, case, target): (outcome, stage)} with the worst outcome over executors."""
    worst: dict[tuple[str, str, str], tuple[str, str]] = {}
    for r in records:
        key = (r["subject"], r["case"], r["target"])
        candidate = (_record_outcome(r), r.get("stage") or "")
        if key not in worst or SEVERITY.index(candidate[0]) < SEVERITY.index(worst[key][0]):
            worst[key] = candidate
    return worst


def build(records: list[dict[str, Any]], kind: str = "operator") -> dict[str, Any]:
    records = [r for r in records if r.get("kind") == kind]
    targets = sorted({r["target"] for r in records})
    cells: dict[str, dict[str, dict[str, Any]]] = collections.defaultdict(dict)
    for (subject, case, target), (outcome, stage) in sorted(case_outcomes(records).items()):
        cell = cells[subject].setdefault(target, {"counts": collections.Counter(), "cases": [], "stages": collections.Counter()})
        cell["counts"][outcome] += 1
        if outcome in ("fail", "xfail") and stage:
            cell["stages"][stage] += 1
        if outcome not in ("pass", "skip", "info"):
            cell["cases"].append({"case": case, "outcome": outcome, "stage": stage})
    for subject in cells:
        for cell in cells[subject].values():
            cell["worst"] = min(cell["counts"], key=SEVERITY.index)
            cell["counts"] = dict(cell["counts"])
            cell["stages"] = dict(cell["stages"])
    return {"kind": kind, "targets": targets, "subjects": {s: cells[s] for s in sorted(cells)}}


def _label(cell: dict[str, Any]) -> str:
    if not cell:
        return "-"
    parts = []
    for outcome in SEVERITY:
        n = cell["counts"].get(outcome)
        if not n:
            continue
        name = "WRONG (delegated)" if outcome == "wrong_delegated" else outcome
        if outcome in ("fail", "xfail") and cell["stages"]:
            name += "@" + "/".join(sorted(cell["stages"]))
        parts.append(f"**{name} {n}**" if outcome in ("wrong_delegated", "mismatch", "fail", "error") else f"{name} {n}")
    return " · ".join(parts)


def to_markdown(matrix: dict[str, Any]) -> str:
    targets = matrix["targets"]
    lines = [
        f"# Support matrix ({matrix['kind']}s)",
        "",
        "Cases per outcome. WRONG (delegated): the partitioner took the op and the result is out of tolerance.",
        "",
        "| " + " | ".join([matrix["kind"], *targets]) + " |",
        "|" + "---|" * (len(targets) + 1),
    ]
    for subject, row in matrix["subjects"].items():
        lines.append("| " + " | ".join([subject, *(_label(row.get(t, {})) for t in targets)]) + " |")
    return "\n".join(lines) + "\n"


def write(results_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    matrix = build(records)
    write_atomic(results_dir / "support_matrix.json", json.dumps(matrix, indent=1, sort_keys=True))
    write_atomic(results_dir / "support_matrix.md", to_markdown(matrix))
    return matrix
