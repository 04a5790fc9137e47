"""The one place that decides outcomes: of a record, of a test, of a matrix cell.

Runner, plugin, matrix, report and diff all ask this module. The rules:
- A record's findings (failed checks and stage failures) decide its outcome: a failed
  comparison is a `mismatch`, any other finding a `fail` at its stage, none a `pass`
  (or `fallback` when the lowered program left compute on the CPU, as expected).
- Delegation is part of the contract: a compute op on the CPU that the expectations do
  not list, or no partition where one is expected, fails at `partition`; a listed op that
  is now delegated fails too (the expectation is stale: tighten it).
- A known failure covers a record only when it names the record's executor and every
  failed check or stage, its message pattern matches and the metrics stay within its
  ceilings; anything beyond it fails. A named executor that passes fails strictly.
- A test passes only when an executor that ran the lowered program compared; quantized
  eager is a reference, not a verification.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from typing import Any

from etconform.expectations import BEFORE_EXECUTION, Expectation, KnownFailure, op_key

# Executor roles (attributes of the executor classes in reference/).
LOWERED, REFERENCE, ESTIMATE = "lowered", "reference", "estimate"
# What an executor verifies, lowest first; a cell of the matrix shows the highest reached.
LEVELS = {
    "quantization": "quantized eager only",
    "tosa": "TOSA graph verified (TOSA reference model)",
    "stream": "Vela's command stream verified (functional model)",
    "runtime": "program verified on the host runtime",
    "npu": "verified on the NPU (FVP)",
    "board": "verified on a board",
}
FAILING = ("mismatch", "fail", "error")
GOOD = ("pass", "fallback", "xfail", "info")
COMPARED = ("pass", "fallback", "mismatch")
# Worst first. `wrong_delegated`: a mismatch inside a delegate, off quantized eager too.
SEVERITY = ("wrong_delegated", "mismatch", "fail", "error", "xfail", "fallback", "pass", "skip", "info")


def role_of(record: dict[str, Any]) -> str:
    """The record's executor role; records written before roles existed get their executor's."""
    if record.get("role"):
        return record["role"]
    from reference import EXECUTORS

    return getattr(EXECUTORS.get(record.get("executor", "")), "role", "other")


def finding(stage: str, check: str, message: str) -> dict[str, str]:
    return {"stage": stage, "check": check, "message": message}


# --- delegation --------------------------------------------------------------------------

def delegation_findings(delegation: dict[str, Any], expect: Expectation) -> list[dict[str, str]]:
    """The partition contract: what is on the CPU against what the expectations allow."""
    on_cpu = {op_key(op): op for op in delegation.get("undelegated_ops") or {}}
    allowed = {op_key(op) for op in expect.cpu or ()}
    found = []
    unexpected = sorted(set(on_cpu) - allowed)
    if unexpected:
        reasons = delegation.get("rejected") or {}
        why = "; ".join(f"{op}: {reasons[op]}" for op in list(reasons)[:3] if "quantize_per" not in op)
        found.append(finding("partition", "partition",
                             f"on the CPU, not in the expectations: {', '.join(on_cpu[o] for o in unexpected)}"
                             + (f" (partitioner: {why})" if why else "")))
    elif delegation.get("partitions", 0) == 0 and not allowed:
        found.append(finding("partition", "partition", "no partition: nothing was delegated"))
    stale = sorted(allowed - set(on_cpu))
    if stale:
        found.append(finding("partition", "partition",
                             f"now delegated, but listed as CPU ops in the expectations: {', '.join(stale)} (tighten them)"))
    if "float_ops" in delegation:  # an integer target: delegated compute must be on the integer grid
        in_float = {op_key(op): op for op in delegation["float_ops"]}
        allowed_float = set(expect.float_ops)
        unexpected = sorted(set(in_float) - allowed_float)
        if unexpected:
            found.append(finding("partition", "float",
                                 f"delegated in float on an integer target, not in the expectations: "
                                 f"{', '.join(in_float[o] for o in unexpected)}"))
        stale = sorted(allowed_float - set(in_float))
        if stale:
            found.append(finding("partition", "float",
                                 f"now on the integer grid, but listed as float ops in the expectations: {', '.join(stale)} (tighten them)"))
    return found


# --- records -----------------------------------------------------------------------------

def outcome_of(findings: list[dict[str, str]], on_cpu: bool) -> tuple[str, str | None]:
    """(outcome, stage) from a record's findings."""
    if any(f["stage"] == "compare" for f in findings):
        return "mismatch", "compare"
    if findings:
        return "fail", findings[0]["stage"]
    return ("fallback" if on_cpu else "pass"), None


def _within(entry: KnownFailure, metrics: dict[str, Any]) -> str:
    """'' when the metrics stay within the entry's ceilings, else what went beyond."""
    for name, ceiling in entry.max.items():
        value = metrics.get(name)
        if value is None or not value <= ceiling:
            return f"{name} {value} beyond the expected {ceiling}"
    for name, floor in entry.min.items():
        value = metrics.get(name)
        if value is None or not value >= floor:
            return f"{name} {value} below the expected {floor}"
    return ""


def _covers(entry: KnownFailure, executor: str, f: dict[str, str]) -> bool:
    if entry.executors and executor not in entry.executors:
        return False
    if entry.message and not re.search(entry.message, f["message"]):
        return False
    if entry.stage:  # a "compare" stage entry covers a comparison that raised, never a failed check
        return f["stage"] == entry.stage and not (entry.stage == "compare" and f["check"])
    return f["stage"] == "compare" and f["check"] in entry.checks


def known_failure(record: dict[str, Any], entries: tuple[KnownFailure, ...]) -> tuple[list[KnownFailure], str]:
    """The entries that cover every finding of a failing record, or ([], why not)."""
    used: list[KnownFailure] = []
    for f in record.get("findings") or []:
        entry = next((e for e in entries if _covers(e, record["executor"], f)), None)
        if entry is None:
            return [], ""
        if entry not in used:
            used.append(entry)
    for entry in used:
        beyond = _within(entry, record.get("metrics") or {})
        if beyond:
            return [], f"beyond its known failure {entry.describe()}: {beyond}"
    return used, ""


def apply_expectation(record: dict[str, Any], expect: Expectation) -> dict[str, Any]:
    """Mark a failing record that a known failure covers as `xfail` (in place)."""
    if record["outcome"] not in ("mismatch", "fail") or not expect.xfail:
        return record
    used, beyond = known_failure(record, expect.xfail)
    if used:
        record["outcome"] = "xfail"
        record["expected"] = "; ".join(e.reason for e in used)
    elif beyond:
        record["message"] = f"{record['message']} [{beyond}]"
    return record


# --- tests -------------------------------------------------------------------------------

@dataclass
class Judgement:
    action: str  # pass, fail, xfail, skip
    message: str = ""


def _stale_entries(records: list[dict[str, Any]], expect: Expectation) -> list[str]:
    """Known failures that did not happen (strict): a stage got past, or a named check passed."""
    stale = []
    for entry in expect.xfail:
        if entry.stage in BEFORE_EXECUTION:
            hit = any(f["stage"] == entry.stage for r in records for f in r.get("findings") or [])
            if not hit and any(r["outcome"] in COMPARED for r in records):
                stale.append(f"expected to fail {entry.describe()}, but it got past {entry.stage}")
            continue
        for r in records:
            if entry.executors and r["executor"] not in entry.executors:
                continue
            if entry.stage:
                if r["outcome"] in ("pass", "fallback"):
                    stale.append(f"{r['executor']} passed, expected to fail {entry.describe()}")
                continue
            failed = {f["check"] for f in r.get("findings") or [] if f["stage"] == "compare"}
            passed = sorted(set(entry.checks) & set(r.get("checks") or []) - failed)
            if passed and r["outcome"] in ("pass", "fallback", "xfail"):
                stale.append(f"{r['executor']} passed {'/'.join(passed)}, expected to fail {entry.describe()}")
    return stale


def judge(records: list[dict[str, Any]], expect: Expectation, summary: str) -> Judgement:
    """The pytest result of one case on one target, from its records alone."""
    errors = [r for r in records if r["outcome"] == "error"]
    if errors:
        return Judgement("fail", f"BAD CASE (a bug in the suite, not the backend): {errors[0]['message']}")
    if any(r["outcome"] in FAILING for r in records):
        return Judgement("fail", summary)
    stale = _stale_entries(records, expect)
    if stale:
        return Judgement("fail", "XPASS(strict): " + "; ".join(stale) + f": tighten the expectations\n{summary}")
    lost = lost_coverage(records, expect)
    if lost:
        return Judgement("fail", f"{lost}\n{summary}")
    if any(r["outcome"] == "xfail" for r in records):
        reasons = sorted({r.get("expected", "") for r in records if r["outcome"] == "xfail"})
        return Judgement("xfail", "; ".join(reasons))
    if not any(role_of(r) == LOWERED and r["outcome"] in COMPARED for r in records):
        why = "; ".join(f"{r['executor']}: {r['outcome']} {r.get('message', '')}".strip() for r in records if role_of(r) == LOWERED)
        return Judgement("skip", f"the lowered program ran nowhere ({why or 'no executor runs it'})")
    return Judgement("pass")


def unverified_run(records: list[dict[str, Any]]) -> str:
    """'' unless no executor of a lowered program compared anywhere in the run while some were
    skipped: a run of skips verified nothing, whatever pytest counts ("skipped" exits 0)."""
    lowered = [r for r in records if role_of(r) == LOWERED]
    if any(r["outcome"] in COMPARED for r in lowered):
        return ""
    skipped = collections.Counter(f"{r['executor']}: {r.get('message') or 'skipped'}" for r in lowered if r["outcome"] == "skip")
    if not skipped:
        return ""
    why = "; ".join(f"{reason} ({n}x)" for reason, n in skipped.most_common(3))
    return f"nothing was verified: no executor ran a lowered program anywhere in this run ({why})"


# --- cells (matrix, report) --------------------------------------------------------------

def is_wrong_delegated(record: dict[str, Any]) -> bool:
    """A mismatch of a fully delegated program that is off quantized eager too: the delegate is wrong."""
    if record["outcome"] != "mismatch" or role_of(record) != LOWERED:
        return False
    delegation = record.get("delegation") or {}
    if delegation.get("partitions", 0) == 0 or delegation.get("undelegated_ops"):
        return False  # compute on the CPU too: the wrong answer may be the CPU kernels', not the delegate's
    checks = {f["check"] for f in record.get("findings") or []}
    if "vs_quantized" in (record.get("checks") or []):
        return "vs_quantized" in checks or "vs_peer" in checks
    return bool(checks)  # a float target: eager is the only reference


def cell_outcome(record: dict[str, Any]) -> str:
    return "wrong_delegated" if is_wrong_delegated(record) else record["outcome"]


def case_outcome(records: list[dict[str, Any]]) -> tuple[str, str]:
    """(worst outcome, its stage) over the records of one case on one target."""
    worst = ("info", "")
    for r in records:
        candidate = (cell_outcome(r), r.get("stage") or "")
        if SEVERITY.index(candidate[0]) < SEVERITY.index(worst[0]):
            worst = candidate
    return worst


def verified_level(records: list[dict[str, Any]]) -> str:
    """The highest level at which an executor compared and agreed ("" if none): a known
    failure is not a verification."""
    from reference import EXECUTORS

    order = list(LEVELS)
    reached = []
    for r in records:
        level = r.get("level") or getattr(EXECUTORS.get(r.get("executor", "")), "level", "")
        if r["outcome"] in ("pass", "fallback") and role_of(r) in (LOWERED, REFERENCE) and level in order:
            reached.append(level)
    return max(reached, key=order.index) if reached else ""


def lost_coverage(records: list[dict[str, Any]], expect: Expectation) -> str:
    """'' unless the case's baseline verified it at a higher level than these records did."""
    was = (expect.baseline or {}).get("level") or ""
    now = verified_level(records)
    order = ["", *LEVELS]
    if was not in order or order.index(now) >= order.index(was):
        return ""
    why = "; ".join(f"{r['executor']}: {r['outcome']} {r.get('message', '')}".strip() for r in records
                    if r.get("level") in order and order.index(r["level"]) > order.index(now))
    return (f"LOST COVERAGE: verified at '{now or 'nothing'}' where the baseline verified '{was}' "
            f"({LEVELS[was]}): {why or 'no executor of that level ran'}")
