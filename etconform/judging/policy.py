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
import enum
import re
from dataclasses import dataclass
from typing import Any

from etconform.judging.expectations import Expectation, KnownFailure, op_key
from etconform.records import Outcome
from etconform.stages import BEFORE_EXECUTION, Stage


class Role(enum.StrEnum):
    """What an executor's outputs are (an attribute of the executor classes in executors/)."""
    LOWERED = "lowered"  # it runs the lowered program: what is verified
    REFERENCE = "reference"  # a reference the lowered program is held to (quantized eager, the TOSA graph)
    ESTIMATE = "estimate"  # it estimates (Vela's cycles): nothing to compare
    OTHER = "other"  # not an executor: the eager module of a bad case, a test process that died


LOWERED, REFERENCE, ESTIMATE = Role.LOWERED, Role.REFERENCE, Role.ESTIMATE
__all__ = ["Outcome", "Role", "Stage"]  # the vocabulary, re-exported: the modules that ask the policy import it from here
# What an executor verifies, lowest first; a cell of the matrix shows the highest reached.
LEVELS = {
    "quantization": "quantized eager only",
    "tosa": "TOSA graph verified (TOSA reference model)",
    "stream": "Vela's command stream verified (functional model)",
    "runtime": "program verified on the host runtime",
    "npu": "verified on the NPU (FVP)",
    "board": "verified on a board",
}
FAILING = (Outcome.MISMATCH, Outcome.FAIL, Outcome.ERROR)
GOOD = (Outcome.PASS, Outcome.FALLBACK, Outcome.XFAIL, Outcome.INFO)
COMPARED = (Outcome.PASS, Outcome.FALLBACK, Outcome.MISMATCH)
AGREED = (Outcome.PASS, Outcome.FALLBACK)  # compared, and nothing was off
NOT_CLEAN = (*FAILING, Outcome.XFAIL)  # failed, known or not
COVERABLE = (Outcome.MISMATCH, Outcome.FAIL, Outcome.XFAIL)  # what a known failure may cover (never a bad case)
# Cells (matrix, report), worst first. `wrong_delegated`: a mismatch inside a delegate, off quantized
# eager too; `wrong_known`: the same, covered by a known failure: still a wrong answer, not hidden among them.
WRONG_DELEGATED, WRONG_KNOWN = "wrong_delegated", "wrong_known"
# One name per cell outcome, the same in the matrix, the report and its legend.
LABELS = {WRONG_DELEGATED: "WRONG (delegated)", Outcome.MISMATCH: "mismatch", Outcome.FAIL: "fail",
          Outcome.ERROR: "error (bad case)", WRONG_KNOWN: "WRONG (known)", Outcome.XFAIL: "known failure",
          Outcome.FALLBACK: "fallback (expected)", Outcome.PASS: "pass", Outcome.SKIP: "skip", Outcome.INFO: "info"}
UNEXPECTED = (WRONG_DELEGATED, *FAILING)  # cells that fail the run
KNOWN = (WRONG_KNOWN, Outcome.XFAIL)  # cells a known failure covers
SEVERITY = (WRONG_DELEGATED, *FAILING, WRONG_KNOWN, Outcome.XFAIL, Outcome.FALLBACK, Outcome.PASS, Outcome.SKIP,
            Outcome.INFO)


def role_of(record: dict[str, Any]) -> str:
    """The record's executor role; records written before roles existed get their executor's."""
    if record.get("role"):
        return record["role"]
    from executors import EXECUTORS

    return getattr(EXECUTORS.get(record.get("executor", "")), "role", "other")


def finding(stage: str, check: str, message: str) -> dict[str, str]:
    return {"stage": str(stage), "check": check, "message": message}


# --- delegation --------------------------------------------------------------------------

def on_the_cpu(delegation: dict[str, Any]) -> dict[str, int]:
    """{op: count} the CPU computes: undelegated compute ops, and the casts and (de)quantizes that only
    carry one partition's outputs to another's (pipeline._between_partitions)."""
    found: dict[str, int] = {}
    for ops in (delegation.get("undelegated_ops") or {}, delegation.get("glue_between_partitions") or {}):
        for op, n in ops.items():
            found[op] = found.get(op, 0) + n
    return found


def delegation_findings(delegation: dict[str, Any], expect: Expectation) -> list[dict[str, str]]:
    """The partition contract: what is on the CPU, how often, and in how many partitions, against what
    the expectations allow."""
    counts = on_the_cpu(delegation)
    on_cpu = {op_key(op): op for op in counts}
    allowed = {op_key(op) for op in expect.cpu or ()}
    between = delegation.get("glue_between_partitions") or {}
    found = []
    unexpected = sorted(set(on_cpu) - allowed)
    if unexpected:
        reasons = delegation.get("rejected") or {}
        why = "; ".join(f"{op}: {reasons[op]}" for op in list(reasons)[:3] if "quantize_per" not in op)
        named = [on_cpu[o] + (" (between partitions)" if on_cpu[o] in between else "") for o in unexpected]
        found.append(finding(Stage.PARTITION, "partition",
                             f"on the CPU, not in the expectations: {', '.join(named)}" + (f" (partitioner: {why})" if why else "")))
    elif delegation.get("partitions", 0) == 0 and not allowed:
        found.append(finding(Stage.PARTITION, "partition", "no partition: nothing was delegated"))
    stale = sorted(allowed - set(on_cpu))
    if stale:
        found.append(finding(Stage.PARTITION, "partition",
                             f"now delegated, but listed as CPU ops in the expectations: {', '.join(stale)} (tighten them)"))
    if expect.cpu_counts is not None:  # by count: an op listed once that now runs twice on the CPU has drifted
        for key in sorted(allowed & set(on_cpu)):
            now, said = counts[on_cpu[key]], expect.cpu_counts.get(key, 0)
            if now != said:
                found.append(finding(Stage.PARTITION, "partition",
                                     f"{on_cpu[key]} on the CPU {now} times where the expectations say {said}"
                                     + (" (tighten them)" if now < said else "")))
    parts = delegation.get("partitions")
    if expect.partitions is not None and parts is not None and parts != expect.partitions:
        found.append(finding(Stage.PARTITION, "partition",
                             f"{parts} partitions where the expectations say {expect.partitions}"
                             + (" (tighten them)" if parts < expect.partitions else "")))
    if "float_ops" in delegation:  # an integer target: delegated compute must be on the integer grid
        in_float = {op_key(op): op for op in delegation["float_ops"]}
        allowed_float = set(expect.float_ops)
        unexpected = sorted(set(in_float) - allowed_float)
        if unexpected:
            found.append(finding(Stage.PARTITION, "float",
                                 f"delegated in float on an integer target, not in the expectations: "
                                 f"{', '.join(in_float[o] for o in unexpected)}"))
        stale = sorted(allowed_float - set(in_float))
        if stale:
            found.append(finding(Stage.PARTITION, "float",
                                 f"now on the integer grid, but listed as float ops in the expectations: {', '.join(stale)} (tighten them)"))
    return found


# --- records -----------------------------------------------------------------------------

def outcome_of(findings: list[dict[str, str]], on_cpu: bool) -> tuple[Outcome, str | None]:
    """(outcome, stage) from a record's findings alone, before any expectation."""
    if any(f["stage"] == Stage.COMPARE and f["check"] for f in findings):
        return Outcome.MISMATCH, Stage.COMPARE.value
    if findings:
        stage = findings[0]["stage"]
        return (Outcome.ERROR if stage == Stage.CASE else Outcome.FAIL), stage
    return (Outcome.FALLBACK if on_cpu else Outcome.PASS), None


def _within(entry: KnownFailure, metrics: dict[str, Any]) -> str:
    """'' when the metrics stay within the entry's ceilings, else what went beyond."""
    for name, ceiling in entry.max.items():
        value = metrics.get(name)
        if name.startswith("mean_err") and isinstance(value, (int, float)):
            value = abs(value)  # a bias either way
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


@dataclass
class Decision:
    outcome: Outcome
    stage: str | None
    expected: str = ""  # xfail: the known failures' reasons
    beyond: str = ""  # a failure a known failure nearly covers: what went beyond it


def decide(findings: list[dict[str, str]], on_cpu: bool, expect: Expectation, executor: str,
           metrics: dict[str, Any]) -> Decision:
    """A record's outcome: from its findings, then the expectations. Asked once per record."""
    outcome, stage = outcome_of(findings, on_cpu)
    if outcome not in (Outcome.MISMATCH, Outcome.FAIL) or not expect.xfail:
        return Decision(outcome, stage)
    used, beyond = known_failure({"executor": executor, "findings": findings, "metrics": metrics}, expect.xfail)
    if used:
        return Decision(Outcome.XFAIL, stage, expected="; ".join(e.reason for e in used))
    return Decision(outcome, stage, beyond=beyond)


def judged(record: dict[str, Any], expect: Expectation, on_cpu: bool = False) -> dict[str, Any]:
    """Sets a record's outcome and stage from its findings and the expectations (in place): the
    runner's records and a crashed test's alike."""
    d = decide(record.get("findings") or [], on_cpu, expect, record["executor"], record.get("metrics") or {})
    record["outcome"], record["stage"] = d.outcome, d.stage
    if d.expected:
        record["expected"] = d.expected
    if d.beyond:
        record["message"] = f"{record.get('message', '')} [{d.beyond}]"
    return record


# --- tests -------------------------------------------------------------------------------

class Action(enum.StrEnum):
    """What pytest makes of a case's test."""
    PASS = "pass"
    FAIL = "fail"
    XFAIL = "xfail"
    SKIP = "skip"


@dataclass
class Judgement:
    action: Action
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
                if r["outcome"] in AGREED:
                    stale.append(f"{r['executor']} passed, expected to fail {entry.describe()}")
                continue
            failed = {f["check"] for f in r.get("findings") or [] if f["stage"] == "compare"}
            passed = sorted(set(entry.checks) & set(r.get("checks") or []) - failed)
            if passed and r["outcome"] in (*AGREED, Outcome.XFAIL):
                stale.append(f"{r['executor']} passed {'/'.join(passed)}, expected to fail {entry.describe()}")
    return stale


def judge(records: list[dict[str, Any]], expect: Expectation, summary: str) -> Judgement:
    """The pytest result of one case on one target, from its records alone."""
    errors = [r for r in records if r["outcome"] == Outcome.ERROR]
    if errors:
        return Judgement(Action.FAIL, f"BAD CASE (a bug in the suite, not the backend): {errors[0]['message']}")
    if any(r["outcome"] in FAILING for r in records):
        return Judgement(Action.FAIL, summary)
    stale = _stale_entries(records, expect)
    if stale:
        return Judgement(Action.FAIL, "XPASS(strict): " + "; ".join(stale) + f": tighten the expectations\n{summary}")
    lost = lost_coverage(records, expect)
    if lost:
        return Judgement(Action.FAIL, f"{lost}\n{summary}")
    if any(r["outcome"] == Outcome.XFAIL for r in records):
        reasons = sorted({r.get("expected", "") for r in records if r["outcome"] == Outcome.XFAIL})
        return Judgement(Action.XFAIL, "; ".join(reasons))
    if not any(role_of(r) == LOWERED and r["outcome"] in COMPARED for r in records):
        why = "; ".join(f"{r['executor']}: {r['outcome']} {r.get('message', '')}".strip() for r in records if role_of(r) == LOWERED)
        return Judgement(Action.SKIP, f"the lowered program ran nowhere ({why or 'no executor runs it'})")
    return Judgement(Action.PASS)


def unverified_run(records: list[dict[str, Any]]) -> str:
    """'' unless no executor of a lowered program compared anywhere in the run while some were
    skipped: a run of skips verified nothing, whatever pytest counts ("skipped" exits 0)."""
    lowered = [r for r in records if role_of(r) == LOWERED]
    if any(r["outcome"] in COMPARED for r in lowered):
        return ""
    skipped = collections.Counter(f"{r['executor']}: {r.get('message') or 'skipped'}" for r in lowered if r["outcome"] == Outcome.SKIP)
    if not skipped:
        return ""
    why = "; ".join(f"{reason} ({n}x)" for reason, n in skipped.most_common(3))
    return f"nothing was verified: no executor ran a lowered program anywhere in this run ({why})"


# --- cells (matrix, report) --------------------------------------------------------------

def is_wrong_delegated(record: dict[str, Any]) -> bool:
    """A fully delegated program whose compared outputs are off quantized eager too (a known failure
    or not): the delegate is wrong."""
    if record["outcome"] not in (Outcome.MISMATCH, Outcome.XFAIL) or role_of(record) != LOWERED:
        return False
    delegation = record.get("delegation") or {}
    if delegation.get("partitions", 0) == 0 or on_the_cpu(delegation):
        return False  # work on the CPU too: the wrong answer may be the CPU's, not the delegate's
    checks = {f["check"] for f in record.get("findings") or [] if f["stage"] == Stage.COMPARE and f["check"]}
    if "vs_quantized" in (record.get("checks") or []):
        return "vs_quantized" in checks or "vs_peer" in checks
    return bool(checks)  # a float target: eager is the only reference


def cell_outcome(record: dict[str, Any]) -> str:
    if is_wrong_delegated(record):
        return WRONG_DELEGATED if record["outcome"] == Outcome.MISMATCH else WRONG_KNOWN
    return record["outcome"]


def case_outcome(records: list[dict[str, Any]]) -> tuple[str, str]:
    """(worst outcome, its stage) over the records of one case on one target."""
    worst = (Outcome.INFO.value, "")
    for r in records:
        candidate = (cell_outcome(r), r.get("stage") or "")
        if SEVERITY.index(candidate[0]) < SEVERITY.index(worst[0]):
            worst = candidate
    return worst


def verified_level(records: list[dict[str, Any]]) -> str:
    """The highest level at which an executor compared and agreed ("" if none): a known
    failure is not a verification."""
    from executors import EXECUTORS

    order = list(LEVELS)
    reached = []
    for r in records:
        level = r.get("level") or getattr(EXECUTORS.get(r.get("executor", "")), "level", "")
        if r["outcome"] in AGREED and role_of(r) in (LOWERED, REFERENCE) and level in order:
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
