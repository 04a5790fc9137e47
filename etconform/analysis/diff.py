"""What changed between two runs, from their records; regressions make the exit status non-zero.

Compared per (case, target); changes that several executors saw alike are one line:
- outcome: newly failing (mismatch, fail, error; also from xfail or skip) is a regression,
  newly passing a progression; a lowered program's pass (any good outcome) now skipped is
  coverage lost, a regression;
- records: one in the old run and not the new is a regression ("vanished"), unless it was
  a skip; a new record that fails is a regression;
- checks: a comparison that ran before (vs_eager, vs_quantized, vs_peer) and no longer does;
- estimates (Vela, FVP cycles): deterministic, so a rise beyond `estimate_margin` is a regression;
- delegation, once per (case, target): compute ops now on the CPU, more partitions, or
  nothing delegated any more; raw node counts alone are no regression (decompositions move);
- accuracy (lowered programs and the quantized reference): SQNR down by more than `sqnr_db`,
  or error in steps up by more than `qsteps`;
- latency, only of executors that run the lowered program: median slower by more than the
  noise both runs measured (3 x the larger coefficient of variation, at least `latency_ratio`,
  and at least `latency_floor_ms`); a regression only with gate_latency, since a shared
  machine's timings drift.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from etconform.judging import policy

GOOD, BAD = policy.GOOD, policy.FAILING
# Deterministic numbers from Vela (per program) and the FVP's PMU: a rise is the backend's doing.
ESTIMATES = ("inference_time_ms", "cycles_total", "cycles_npu", "sram_memory_used", "dram_memory_used",
             "off_chip_flash_memory_used", "on_chip_flash_memory_used", "npu_cycles", "cpu_cycles")
ERROR_STEPS = ("max_err_qsteps", "max_err_qsteps_vs_rounded", "unexplained_qsteps_vs_eager")

Record = dict[str, Any]
Key = tuple[str, str]


@dataclass(frozen=True)
class Thresholds:
    sqnr_db: float = 3.0
    qsteps: float = 1.0
    latency_ratio: float = 0.25
    latency_floor_ms: float = 0.1
    gate_latency: bool = False
    estimate_margin: float = 0.05


@dataclass
class Change:
    key: Key  # (case, target)
    executors: list[str]  # every executor that saw this change
    kind: str  # outcome, coverage, check, delegation, estimate, accuracy, latency, added, removed
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
        lines = [_per_target(self.regressions)]
        for title, regression in (("REGRESSIONS", True), ("other changes", False)):
            picked = [c for c in self.changes if c.regression is regression]
            if picked:
                lines.append(f"{title} ({len(picked)}):")
                lines += [_line(c) for c in picked]
        return "\n".join(lines)


def _per_target(regressions: list[Change]) -> str:
    counts = Counter(c.key[1] for c in regressions)
    return "regressions per target: " + (", ".join(f"{t} {n}" for t, n in sorted(counts.items())) or "none")


def _line(c: Change) -> str:
    return f"  {c.kind:10s} {c.key[0]} on {c.key[1]} [{', '.join(c.executors)}]: {c.text}"


role = policy.role_of


def _outcome(r: Record) -> str:
    return r["outcome"] + (f"@{r['stage']}" if r.get("stage") and r["outcome"] in policy.NOT_CLEAN else "")


def _group(records: list[Record]) -> dict[Key, dict[str, Record]]:
    groups: dict[Key, dict[str, Record]] = {}
    for r in records:
        groups.setdefault((r["case"], r["target"]), {})[r["executor"]] = r
    return groups


# --- one executor's record, old and new -------------------------------------------------


def _removed(key: Key, executor: str, old: Record) -> list[Change]:
    # A skip that is gone lost nothing; anything else that vanished is coverage lost.
    regression = old["outcome"] != policy.Outcome.SKIP
    return [Change(key, [executor], "removed", regression, f"vanished: was {_outcome(old)}, not in the new run")]


def _added(key: Key, executor: str, new: Record) -> list[Change]:
    return [Change(key, [executor], "added", new["outcome"] in BAD, f"new, {_outcome(new)}")]


def _outcome_change(key: Key, executor: str, old: Record, new: Record, delegation_regressed: bool) -> list[Change]:
    was, now = old["outcome"], new["outcome"]
    if _outcome(old) == _outcome(new):
        return []
    if now == policy.Outcome.SKIP and was in GOOD and role(new) == policy.LOWERED:
        why = f": {new['message']}" if new.get("message") else ""
        return [Change(key, [executor], "coverage", True, f"coverage lost: was {was}, now skip{why}")]
    regression = now in BAD and was not in BAD  # from good, xfail or skip
    if regression and new.get("stage") == "partition" and delegation_regressed:
        return []  # an unexpected op on the CPU: the delegation change names it, once
    if was == policy.Outcome.PASS and now == policy.Outcome.FALLBACK:
        if delegation_regressed:
            return []  # the delegation change says what moved to the CPU
        regression = True  # no delegation summary to say it: the outcome must
    return [Change(key, [executor], "outcome", regression, f"{_outcome(old)} -> {_outcome(new)}")]


def _checks(key: Key, executor: str, old: Record, new: Record) -> list[Change]:
    if "checks" not in old or "checks" not in new:
        return []  # a record from before checks were listed says nothing
    if new["outcome"] not in (*policy.AGREED, policy.Outcome.INFO) and _outcome(old) != _outcome(new):
        return []  # the outcome change already says why the checks did not run
    lost = [c for c in old["checks"] if c not in new["checks"]]
    return [Change(key, [executor], "check", True, f"check {c} no longer runs") for c in lost]


def _estimates(key: Key, executor: str, old: Record, new: Record, th: Thresholds) -> list[Change]:
    """One change for what rose beyond the margin and one for what fell, each naming every metric."""
    a, b = old.get("estimate") or {}, new.get("estimate") or {}
    rose, fell = [], []
    for name in ESTIMATES:
        if not isinstance(a.get(name), (int, float)) or not isinstance(b.get(name), (int, float)):
            continue
        before, after = a[name], b[name]
        text = f"{name} {before:g} -> {after:g}" + (f" ({after / before - 1:+.0%})" if before else "")
        if after > before * (1 + th.estimate_margin):
            rose.append(text)
        elif after < before * (1 - th.estimate_margin):
            fell.append(text)
    return ([Change(key, [executor], "estimate", True, "; ".join(rose))] if rose else []) + \
        ([Change(key, [executor], "estimate", False, "; ".join(fell))] if fell else [])


def _accuracy(key: Key, executor: str, old: Record, new: Record, th: Thresholds) -> list[Change]:
    if role(new) not in (policy.LOWERED, policy.REFERENCE):
        return []
    a, b = old.get("metrics") or {}, new.get("metrics") or {}
    changes = []
    if a.get("sqnr_db") is not None and b.get("sqnr_db") is not None and a["sqnr_db"] - b["sqnr_db"] > th.sqnr_db:
        changes.append(Change(key, [executor], "accuracy", True, f"SQNR {a['sqnr_db']:.1f} -> {b['sqnr_db']:.1f} dB"))
    for metric in ERROR_STEPS:
        if a.get(metric) is not None and b.get(metric) is not None and b[metric] - a[metric] > th.qsteps:
            changes.append(Change(key, [executor], "accuracy", True, f"{metric} {a[metric]:.2f} -> {b[metric]:.2f}"))
    return changes


def _latency(key: Key, executor: str, old: Record, new: Record, th: Thresholds) -> list[Change]:
    # PyTorch's timings (eager, quantized_eager) are not the system under test.
    if role(new) != policy.LOWERED:
        return []
    a, b = old.get("latency") or {}, new.get("latency") or {}
    if not a.get("median_ms") or not b.get("median_ms"):
        return []
    ratio = b["median_ms"] / a["median_ms"] - 1
    noise = max(th.latency_ratio, 3 * max(a.get("cv") or 0.0, b.get("cv") or 0.0))
    if abs(ratio) <= noise or abs(b["median_ms"] - a["median_ms"]) < th.latency_floor_ms:
        return []
    text = f"median {a['median_ms']:.3f} -> {b['median_ms']:.3f} ms ({ratio:+.0%}, noise {noise:.0%})"
    return [Change(key, [executor], "latency", th.gate_latency and ratio > 0, text)]


# --- delegation, once per (case, target): one lowering serves every executor ------------


def _delegation_record(records: dict[str, Record]) -> Record | None:
    carrying = [r for r in records.values() if r.get("delegation")]
    lowered = [r for r in carrying if role(r) == policy.LOWERED]
    return (lowered or carrying or [None])[0]


def _delegated(d: dict[str, Any]) -> bool:
    return (d.get("partitions") or 0) > 0 or (d.get("delegated_nodes") or 0) > 0


def _delegation_texts(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[str], list[str]]:
    """What got worse and what else changed, in words."""
    ops_a, ops_b = a.get("undelegated_ops") or {}, b.get("undelegated_ops") or {}
    parts_a, parts_b = a.get("partitions") or 0, b.get("partitions") or 0
    worse, other = [], []
    if new_ops := sorted(set(ops_b) - set(ops_a)):
        worse.append(f"now on the CPU: {new_ops}")
    if more := [f"{op} {ops_a[op]} -> {ops_b[op]}" for op in sorted(ops_a.keys() & ops_b.keys()) if ops_b[op] > ops_a[op]]:
        worse.append(f"more on the CPU: {', '.join(more)}")
    if _delegated(a) and not _delegated(b):
        worse.append(f"partition lost: partitions {parts_a} -> {parts_b}, nothing delegated")
    elif parts_a > 0 and parts_b > parts_a:
        worse.append(f"more partitions (fragmentation): {parts_a} -> {parts_b}")
    elif parts_b != parts_a:
        other.append(f"partitions {parts_a} -> {parts_b}")
    if back := sorted(set(ops_a) - set(ops_b)):
        other.append(f"back on the delegate: {back}")
    if not worse and not other and a.get("delegated_nodes") != b.get("delegated_nodes"):
        # Decompositions move between releases; counts alone are worth a note, not an alarm.
        other.append(f"delegated nodes {a.get('delegated_nodes')} -> {b.get('delegated_nodes')}, "
                     f"partitions {parts_a} -> {parts_b}")
    return worse, other


def _delegation(key: Key, olds: dict[str, Record], news: dict[str, Record]) -> list[Change]:
    old_r, new_r = _delegation_record(olds), _delegation_record(news)
    if old_r is None or new_r is None:
        return []
    worse, other = _delegation_texts(old_r["delegation"], new_r["delegation"])
    if not worse and not other:
        return []
    executors = [e for e, r in news.items() if r.get("delegation") == new_r["delegation"]]
    return [Change(key, executors, "delegation", bool(worse), "; ".join(worse + other))]


# --- putting it together ------------------------------------------------------------------


def _case_target(key: Key, olds: dict[str, Record], news: dict[str, Record], th: Thresholds) -> list[Change]:
    changes = _delegation(key, olds, news)
    delegation_regressed = any(c.regression for c in changes)
    for executor in [*news, *(e for e in olds if e not in news)]:
        old, new = olds.get(executor), news.get(executor)
        if new is None:
            changes += _removed(key, executor, old)
        elif old is None:
            changes += _added(key, executor, new)
        else:
            changes += _outcome_change(key, executor, old, new, delegation_regressed)
            changes += _checks(key, executor, old, new)
            changes += _estimates(key, executor, old, new, th)
            changes += _accuracy(key, executor, old, new, th)
            changes += _latency(key, executor, old, new, th)
    return _merge(changes)


def _merge(changes: list[Change]) -> list[Change]:
    """One change per (kind, text) of a case and target, naming every executor that saw it."""
    merged: dict[tuple[str, bool, str], Change] = {}
    for c in changes:
        same = merged.setdefault((c.kind, c.regression, c.text), Change(c.key, [], c.kind, c.regression, c.text))
        same.executors += [e for e in c.executors if e not in same.executors]
    return list(merged.values())


def diff(old: list[Record], new: list[Record], th: Thresholds = Thresholds()) -> Diff:
    a, b = _group(old), _group(new)
    result = Diff()
    for key in sorted(a.keys() | b.keys()):
        result.changes += _case_target(key, a.get(key, {}), b.get(key, {}), th)
    return result
