"""The support matrix: operators x targets, built from records alone.

A case's outcome on a target is the worst over its executors' records; an operator's
cell counts its cases by outcome. A mismatch of a program the partitioner took (it
claimed support, then computed a wrong answer) is counted apart as `wrong_delegated`:
the most serious finding; covered by a known failure, as `wrong_known`.
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

from etconform.judging import policy
from etconform.records import write_atomic

SEVERITY = policy.SEVERITY


def case_outcomes(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], tuple[str, str]]:
    """{(subject, case, target): (outcome, stage)} with the worst outcome over executors."""
    grouped: dict[tuple[str, str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        grouped[(r["subject"], r["case"], r["target"])].append(r)
    return {key: policy.case_outcome(group) for key, group in grouped.items()}


def levels(records: list[dict[str, Any]]) -> dict[str, collections.Counter]:
    """{target: Counter(highest level verified -> cases)}: what a green cell rests on."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        grouped[(r["case"], r["target"])].append(r)
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (_, target), group in grouped.items():
        found[target][policy.verified_level(group) or "nothing"] += 1
    return dict(found)


def build(records: list[dict[str, Any]], kind: str = "operator") -> dict[str, Any]:
    records = [r for r in records if r.get("kind") == kind]
    targets = sorted({r["target"] for r in records})
    cells: dict[str, dict[str, dict[str, Any]]] = collections.defaultdict(dict)
    for (subject, case, target), (outcome, stage) in sorted(case_outcomes(records).items()):
        cell = cells[subject].setdefault(target, {"counts": collections.Counter(), "cases": [], "stages": collections.Counter()})
        cell["counts"][outcome] += 1
        if outcome in (policy.Outcome.FAIL, policy.Outcome.XFAIL) and stage:
            cell["stages"][stage] += 1
        if outcome not in (policy.Outcome.PASS, policy.Outcome.SKIP, policy.Outcome.INFO):
            cell["cases"].append({"case": case, "outcome": outcome, "stage": stage})
    for subject in cells:
        for cell in cells[subject].values():
            cell["worst"] = min(cell["counts"], key=SEVERITY.index)
            cell["counts"] = dict(cell["counts"])
            cell["stages"] = dict(cell["stages"])
    return {"kind": kind, "targets": targets, "subjects": {s: cells[s] for s in sorted(cells)},
            "levels": {t: dict(c) for t, c in levels(records).items()}}


def _label(cell: dict[str, Any]) -> str:
    if not cell:
        return "-"
    parts = []
    for outcome in SEVERITY:
        n = cell["counts"].get(outcome)
        if not n:
            continue
        name = policy.LABELS[outcome] if outcome in (policy.WRONG_DELEGATED, policy.WRONG_KNOWN) else outcome
        if outcome in (policy.Outcome.FAIL, policy.Outcome.XFAIL) and cell["stages"]:
            name += "@" + "/".join(sorted(cell["stages"]))
        parts.append(f"**{name} {n}**" if outcome in (*policy.UNEXPECTED, policy.WRONG_KNOWN) else f"{name} {n}")
    return " · ".join(parts)


def to_markdown(matrix: dict[str, Any]) -> str:
    targets = matrix["targets"]
    lines = [
        f"# Support matrix ({matrix['kind']}s)",
        "",
        "Cases per outcome. WRONG (delegated): a fully delegated program computed a result out of tolerance;"
        " WRONG (known): the same, covered by a known failure.",
        "",
        "| " + " | ".join([matrix["kind"], *targets]) + " |",
        "|" + "---|" * (len(targets) + 1),
        "| " + " | ".join(["*verified at*", *(level_label(matrix["levels"].get(t, {})) for t in targets)]) + " |",
    ]
    for subject, row in matrix["subjects"].items():
        lines.append("| " + " | ".join([subject, *(_label(row.get(t, {})) for t in targets)]) + " |")
    return "\n".join(lines) + "\n"


def level_label(counts: dict[str, int]) -> str:
    """'TOSA graph verified (TOSA reference model) 620 · nothing ran the program 3'."""
    names = {**policy.LEVELS, "nothing": "no executor agreed"}
    order = ["nothing", *policy.LEVELS]
    return " · ".join(f"{names[lvl]} {n}" for lvl, n in sorted(counts.items(), key=lambda kv: -order.index(kv[0])))


def write(results_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    matrix = build(records)
    write_atomic(results_dir / "support_matrix.json", json.dumps(matrix, indent=1, sort_keys=True))
    write_atomic(results_dir / "support_matrix.md", to_markdown(matrix))
    return matrix
