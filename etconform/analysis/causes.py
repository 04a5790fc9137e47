"""Failures grouped by likely cause, each group with a one-line conclusion.

A failing case x target is keyed by its stage, the executors that failed and its message
with the numbers taken out; the groups then say which targets and operators share it, and
a rule per stage names the layer most likely at fault. The rules are heuristics that
point where to look first; the numbers behind each failure are listed with it.
"""

from __future__ import annotations

import collections
import re
from typing import Any

from etconform.analysis.qualify import pattern
from etconform.judging import policy
from etconform.stages import BEFORE_EXECUTION
from etconform.targets import TARGETS

TOSA_FAMILY = tuple(name for name, t in TARGETS.items() if t.backend in ("tosa", "ethos_u"))
_STAGE_LAYER = {
    "case": "the case itself is broken (eager PyTorch raised): the suite's bug, not the backend's",
    "export": "torch.export rejects it: PyTorch, before any backend",
    "quantize": "PT2E quantization fails: the quantizer, before the backend",
    "serialize": "ExecuTorch's serialization of the lowered program",
    "load": "the runtime refuses the program at load: the delegate accepted what its runtime cannot run",
    "run": "the program fails while running",
}


def failing_cases(records: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """{(case, target): all its records} for the case x targets whose outcome is failing."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        grouped[(r["case"], r["target"])].append(r)
    return {key: group for key, group in grouped.items() if policy.case_outcome(group)[0] in policy.UNEXPECTED}


def _key(bad: list[dict[str, Any]]) -> tuple[str, frozenset, str]:
    """(stage, executors, what): a comparison by the checks that failed (its numbers differ per case),
    a partition finding by its message with the op names taken out, any other stage by its message."""
    first = bad[0]
    stage = first.get("stage") or ""
    checks = sorted({f.get("check") or "" for r in bad for f in r.get("findings") or [] if f.get("stage") == stage})
    if stage == "compare":
        what = "checks failed: " + ", ".join(checks)
    elif stage == "partition":
        message = re.sub(r"\b(aten_\w+|\w+\.(default|Tensor|Scalar)\w*)", "OP", first.get("message") or "")
        what = "/".join(checks) + ": " + pattern(re.sub(r"(OP(, )?)+", "OP ", message))
    else:
        # A timeout's pass, like its seconds, differs with how far each case got: one cause.
        what = pattern(re.sub(r"(still running after .*stopped)( in \w+)?", r"\1 in PASS", first.get("message") or ""))
    # Before anything ran, every executor of the target fails alike: which ones says only the target's family.
    # Not when one executor stopped there and another got further (the command stream's own Vela check).
    alike = stage in BEFORE_EXECUTION and all(r.get("stage") == stage for r in bad)
    executors = frozenset() if alike else frozenset(r["executor"] for r in bad)
    return stage, executors, what[:160]


def _conclusion(stage: str, executors: set[str], targets: set[str], groups: list[list[dict[str, Any]]],
                what: str) -> str:
    message = what
    if "still running after" in message:
        return (f"the {stage} stage ran past its time limit: slow or stuck in the system under test (how far it got"
                " depends on the machine; each message names the pass it stopped in)")
    if stage in _STAGE_LAYER:
        return _STAGE_LAYER[stage]
    if stage == "partition":
        if what.startswith("float"):
            return "delegated compute left in floating point on an integer target: the quantizer's annotation"
        if "now delegated" in message:
            return "the backend now takes ops the expectations list as CPU ops: tighten the expectations"
        return "ops the partitioner refuses (its reason is in the message) and the expectations do not list"
    if stage == "lower":
        return "Vela rejects or breaks the TOSA graph" if "vela" in message.lower() else "the backend's lowering"
    if stage != "compare":
        return f"the {stage} stage"
    if "quantized_eager" in executors:
        return "quantized eager misses too: the quantization recipe, not the backend's arithmetic"
    tosa = set(TOSA_FAMILY)
    if executors == {"tosa_ref"} and targets <= tosa and "tosa_fp" in targets and len(targets) > 1:
        return "fails on tosa_ref for every TOSA target including tosa_fp: the TOSA lowering, not quantization"
    if any(policy.is_wrong_delegated(r) for g in groups for r in g if r["outcome"] in policy.FAILING):
        return f"the backend computes it wrong: {', '.join(sorted(executors))} off quantized eager inside a delegate"
    return f"{', '.join(sorted(executors))} off the reference: the lowered program's arithmetic"


def group(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Causes, largest first: {stage, executors, pattern, targets, subjects, cases, conclusion, example}."""
    known = {(r["case"], r["target"]) for r in records if r["outcome"] == policy.Outcome.XFAIL}
    found: dict[tuple, dict[str, Any]] = {}
    for (case, target), group_records in sorted(failing_cases(records).items()):
        bad = [r for r in group_records if r["outcome"] in policy.FAILING]
        first = bad[0]
        key = _key(bad)
        g = found.setdefault(key, {"stage": key[0], "executors": set(key[1]), "pattern": key[2], "targets": set(),
                                   "subjects": collections.Counter(), "cases": [], "records": [],
                                   "example": first.get("message") or "", "known_elsewhere": set()})
        g["known_elsewhere"].update(t for c, t in known if c == case and t != target)
        g["targets"].add(target)
        g["executors"].update(r["executor"] for r in bad)
        g["subjects"][first.get("subject", case)] += 1
        g["cases"].append((case, target))
        g["records"].append(group_records)
    causes = []
    for g in sorted(found.values(), key=lambda g: (-len(g["cases"]), g["stage"])):
        g["common_ops"] = common_ops(g["records"]) if len(g["subjects"]) > 1 else []
        g["conclusion"] = _conclusion(g["stage"], g["executors"], g["targets"], g.pop("records"), g["pattern"])
        g["targets"], g["executors"] = sorted(g["targets"]), sorted(g["executors"])
        g["known_elsewhere"] = sorted(set(g["known_elsewhere"]) - set(g["targets"]))
        g["subjects"] = [s for s, _ in g["subjects"].most_common()]
        causes.append(g)
    return causes


def common_ops(groups: list[list[dict[str, Any]]]) -> list[str]:
    """The compute ops every failing graph of a cause contains (from `delegation.ops`); [] when unknown."""
    graphs = []
    for records in groups:
        ops = next(((r.get("delegation") or {}).get("ops") for r in records if (r.get("delegation") or {}).get("ops")), None)
        if ops is None:
            return []
        graphs.append(set(ops))
    return sorted(set.intersection(*graphs)) if graphs else []


def headline(cause: dict[str, Any]) -> str:
    """'12 cases (add, sub) fail at compare on tosa_int, ethos_u55_128 [tosa_ref]: <conclusion>'."""
    n, subjects = len(cause["cases"]), cause["subjects"]
    ops = ", ".join(subjects[:4]) + (f" and {len(subjects) - 4} more" if len(subjects) > 4 else "")
    common = cause.get("common_ops") or []
    shared = f"; every failing graph contains {', '.join(common)}" if common else ""
    if cause.get("known_elsewhere"):
        shared += (f"; the same cases are known failures on {', '.join(cause['known_elsewhere'])}: "
                   "an expectation may be missing here")
    return (f"{n} case{'s' * (n != 1)} ({ops}) fail at {cause['stage'] or '?'} on {', '.join(cause['targets'])} "
            f"[{', '.join(cause['executors'])}]: {cause['conclusion']}{shared}")
