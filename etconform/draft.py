"""A draft expectations file from a run's records: review each entry before committing.

Fallbacks become [unsupported] entries listing the ops left on the CPU; failures become
[xfail] entries scoped to the executors, checks or stage seen, with ceilings a little
above the metrics seen, so that a worse failure later is a failure again.
"""

from __future__ import annotations

import collections
import json
import math
import re
from typing import Any

from etconform.expectations import BEFORE_EXECUTION

CEILING_MARGIN = 1.1  # a known error may grow by 10 % before it fails again
# The metric each check is held to, and whether it is an upper (max) or lower (min) bound.
_GATED = {
    "vs_quantized": (("max_err_qsteps", "max"), ("sqnr_db_vs_quantized", "min"), ("cosine_vs_quantized", "min")),
    "vs_eager": (("max_err_qsteps_vs_rounded", "max"), ("max_abs_err", "max"), ("cosine", "min")),
    "vs_peer": (("max_err_qsteps_vs_tosa_ref", "max"),),
}


def _ceiling(value: float, bound: str) -> float:
    if bound == "max":
        return math.ceil(value * CEILING_MARGIN * 1000) / 1000
    return math.floor((value - abs(value) * (CEILING_MARGIN - 1)) * 1000) / 1000


def _pattern(message: str) -> str:
    """A regular expression for the failure's root cause: its first words, escaped."""
    return re.escape(message.split(" ... ")[0][:60])


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def _unsupported(records: list[dict[str, Any]], reasons: dict[str, str]) -> dict[str, dict[str, Any]]:
    found = {}
    for r in records:
        d = r.get("delegation") or {}
        if r.get("role") != "lowered" or not d or (d.get("partitions", 0) and not d.get("undelegated_ops")):
            continue
        why = reasons.get(r["case"]) or "; ".join(f"{op}: {w}" for op, w in list((d.get("rejected") or {}).items())[:2])
        found[r["case"]] = {"cpu": sorted(d.get("undelegated_ops") or {}), "reason": (why or "left on the CPU")[:200]}
    return found


def _xfails(records: list[dict[str, Any]], reasons: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    by_case: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        if r["outcome"] in ("mismatch", "fail", "xfail") and r.get("findings"):
            by_case[r["case"]].append(r)
    drafted = {}
    for case, failing in by_case.items():
        entries, checks, executors, metrics = [], set(), set(), {}
        for r in failing:
            for f in r["findings"]:
                if f["stage"] == "partition":
                    continue  # the CPU ops go to [unsupported]
                if f["stage"] == "compare":
                    checks.add(f["check"])
                    executors.add(r["executor"])
                    for name, bound in _GATED.get(f["check"], ()):
                        value = (r.get("metrics") or {}).get(name)
                        if value is not None:
                            worse = max if bound == "max" else min
                            metrics[(name, bound)] = worse(metrics.get((name, bound), value), value)
                elif not any(e.get("stage") == f["stage"] for e in entries):
                    entry = {"stage": f["stage"], "message": _pattern(f["message"])}
                    if f["stage"] not in BEFORE_EXECUTION:
                        entry["executors"] = sorted({x["executor"] for x in failing})
                    entries.append({**entry, "reason": reasons.get(case) or f["message"][:200]})
        if checks:
            entry: dict[str, Any] = {"executors": sorted(executors), "checks": sorted(checks)}
            for bound in ("max", "min"):
                picked = {n: _ceiling(v, b) for (n, b), v in sorted(metrics.items()) if b == bound}
                if picked:
                    entry[bound] = picked
            message = next(f["message"] for r in failing for f in r["findings"] if f["stage"] == "compare")
            entries.append({**entry, "reason": reasons.get(case) or message[:200]})
        if entries:
            drafted[case] = entries
    return drafted


def draft(records: list[dict[str, Any]], target: str, reasons: dict[str, str] | None = None) -> str:
    """The TOML text; `reasons` keeps reviewed reasons by case id (from the file being redrafted)."""
    reasons = reasons or {}
    mine = [r for r in records if r["target"] == target]
    lines = [f"# Drafted from a run's records for {target}: review each entry before committing.", ""]
    unsupported = _unsupported(mine, reasons)
    if unsupported:
        lines.append("[unsupported]")
        lines += [f"{json.dumps(case)} = {_toml(entry)}" for case, entry in sorted(unsupported.items())]
        lines.append("")
    for case, entries in sorted(_xfails(mine, reasons).items()):
        for entry in entries:
            header = f"[[xfail.{json.dumps(case)}]]" if len(entries) > 1 else f"[xfail.{json.dumps(case)}]"
            lines += [header, *(f"{k} = {_toml(v)}" for k, v in entry.items()), ""]
    return "\n".join(lines)
