"""What changed between two runs, from their records; regressions make the exit status non-zero.

Compared per (case, target, executor):
- outcome: newly failing (mismatch, fail, error) or newly passing;
- delegation: fewer delegated nodes, more partitions (fragmentation) or new CPU ops;
- accuracy: SQNR down by more than `sqnr_db`, or error in steps up by more than `qsteps`;
- latency: median slower by more than the noise both runs measured (3 x the larger
  coefficient of variation, at least `latency_ratio`, and at least `latency_floor_ms`);
  a regression only with gate_latency, since a shared machine's timings drift.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GOOD = ("pass", "fallback", "xfail", "info")
BAD = ("mismatch", "fail", "error")


@dataclass(frozen=True)
class Thresholds:
    sqnr_db: float = 3.0
    qsteps: float = 1.0
    latency_ratio: float = 0.25
    latency_floor_ms: float = 0.1
    gate_latency: bool = False


@dataclass
class Change:
    key: tuple[str, str, str]
    kind: str  # outcome, delegation, accuracy, latency, added, removed
    regression: bool
    text: str


@dataclass
class Diff:
    changes: list[Change] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.regression]

    def render(self) -> str:
        if not self.changes:
            return "no differences"
        lines = []
        for title, regression in (("REGRESSIONS", True), ("other changes", False)):
            picked = [c for c in self.changes if c.regression is regression]
            if picked:
                lines.append(f"{title} ({len(picked)}):")
                lines += [f"  {c.kind:10s} {c.key[0]} on {c.key[1]} [{c.key[2]}]: {c.text}" for c in picked]
        return "\n".join(lines)


def _index(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["case"], r["target"], r["executor"]): r for r in records}


def _outcome(r: dict[str, Any]) -> str:
    return r["outcome"] + (f"@{r['stage']}" if r.get("stage") and r["outcome"] in BAD + ("xfail",) else "")


def _delegation(key: tuple, old: dict, new: dict) -> list[Change]:
    a, b = old.get("delegation") or {}, new.get("delegation") or {}
    if not a or not b:
        return []
    changes = []
    if b.get("delegated_nodes", 0) < a.get("delegated_nodes", 0) or b.get("partitions", 0) > a.get("partitions", 0) \
            or set(b.get("undelegated_ops", {})) - set(a.get("undelegated_ops", {})):
        lost = sorted(set(b.get("undelegated_ops", {})) - set(a.get("undelegated_ops", {})))
        changes.append(Change(key, "delegation", True,
                              f"delegated nodes {a.get('delegated_nodes')} -> {b.get('delegated_nodes')}, partitions "
                              f"{a.get('partitions')} -> {b.get('partitions')}" + (f", now on the CPU: {lost}" if lost else "")))
    elif b.get("delegated_nodes", 0) > a.get("delegated_nodes", 0):
        changes.append(Change(key, "delegation", False,
                              f"delegated nodes {a.get('delegated_nodes')} -> {b.get('delegated_nodes')}"))
    return changes


def _accuracy(key: tuple, old: dict, new: dict, th: Thresholds) -> list[Change]:
    a, b = old.get("metrics") or {}, new.get("metrics") or {}
    changes = []
    if "sqnr_db" in a and "sqnr_db" in b and a["sqnr_db"] - b["sqnr_db"] > th.sqnr_db:
        changes.append(Change(key, "accuracy", True, f"SQNR {a['sqnr_db']:.1f} -> {b['sqnr_db']:.1f} dB"))
    for metric in ("max_err_qsteps", "unexplained_qsteps_vs_eager"):
        if a.get(metric) is not None and b.get(metric) is not None and b[metric] - a[metric] > th.qsteps:
            changes.append(Change(key, "accuracy", True, f"{metric} {a[metric]:.2f} -> {b[metric]:.2f}"))
    return changes


def _latency(key: tuple, old: dict, new: dict, th: Thresholds) -> list[Change]:
    a, b = old.get("latency") or {}, new.get("latency") or {}
    if not a.get("median_ms") or not b.get("median_ms"):
        return []
    ratio = b["median_ms"] / a["median_ms"] - 1
    noise = max(th.latency_ratio, 3 * max(a.get("cv", 0.0), b.get("cv", 0.0)))
    if abs(ratio) <= noise or abs(b["median_ms"] - a["median_ms"]) < th.latency_floor_ms:
        return []
    text = f"median {a['median_ms']:.3f} -> {b['median_ms']:.3f} ms ({ratio:+.0%}, noise {noise:.0%})"
    return [Change(key, "latency", th.gate_latency and ratio > 0, text)]


def diff(old: list[dict[str, Any]], new: list[dict[str, Any]], th: Thresholds = Thresholds()) -> Diff:
    a, b = _index(old), _index(new)
    result = Diff()
    for key in sorted(a.keys() - b.keys()):
        result.changes.append(Change(key, "removed", False, f"was {_outcome(a[key])}, not in the new run"))
    for key in sorted(b.keys() - a.keys()):
        regression = b[key]["outcome"] in BAD
        result.changes.append(Change(key, "added", regression, f"new, {_outcome(b[key])}"))
    for key in sorted(a.keys() & b.keys()):
        old_r, new_r = a[key], b[key]
        if _outcome(old_r) != _outcome(new_r):
            regression = new_r["outcome"] in BAD and old_r["outcome"] not in BAD or \
                (old_r["outcome"] == "pass" and new_r["outcome"] == "fallback")
            result.changes.append(Change(key, "outcome", regression, f"{_outcome(old_r)} -> {_outcome(new_r)}"))
        result.changes += _delegation(key, old_r, new_r)
        result.changes += _accuracy(key, old_r, new_r, th)
        result.changes += _latency(key, old_r, new_r, th)
    return result
