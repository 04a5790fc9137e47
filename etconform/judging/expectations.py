"""What is known per target, as data: suites/expectations/<target>.toml.

    [unsupported]          # the compute ops that may run on the CPU, how often, and why; anything else fails at `partition`
    "reshape-flatten" = {cpu = {aten_view_copy_default = 1}, partitions = 0, reason = "why"}
    "argmax" = {cpu = {aten_argmax_default = 1}, reason = "..."}   # no partition is fine when every op is listed
    "cat" = {cpu = ["aten_cat_default"], reason = "..."}  # a list: by name, any count (drafted before counts)
    "sigmoid" = {float = ["aten.sigmoid"], reason = "..."}  # integer targets: ops a delegate may compute in float

    [xfail."mean-all_dims"]            # a known failure of a stage before execution: every executor
    stage = "lower"
    message = "StopIteration"          # a regular expression the failure's message must match
    reason = "why"

    [xfail."log_softmax-large_logits"] # a known failure of a check: named executors and checks, with a ceiling
    executors = ["quantized_eager", "tosa_ref"]
    checks = ["vs_eager"]              # vs_eager, vs_quantized, vs_peer, vs_tosa, vs_labels, vs_ideal
    max = {max_err_qsteps_vs_rounded = 240}   # metrics that may not grow beyond (min = {...} for floors)
    seeds = [1]                        # only on these runs' seeds (--seed); drafted where other seeds passed
    reason = "why"

    [tolerance.sigmoid]                # overrides of etconform.judging.tolerances.Tolerance
    qtol_steps = 2

A key is a case id (`conv2d-3x3`) or an operator name (`conv2d`: all its cases); an
[xfail] key may hold a list of entries ([[xfail."key"]]). A key that matches no case, an
unknown field or a malformed value is an error at collection, naming the file and key.
Whether a record is covered is decided in etconform.judging.policy.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from etconform.cases import Case
from etconform.judging.tolerances import resolve
from etconform.stages import BEFORE_EXECUTION, Stage

# ETCONFORM_EXPECTATIONS points at another folder, e.g. one kept for a candidate release.
EXPECTATIONS_DIR = Path(
    os.environ.get("ETCONFORM_EXPECTATIONS", Path(__file__).resolve().parents[2] / "suites" / "expectations")
)
_SECTIONS = {"unsupported", "xfail", "tolerance"}
STAGES = tuple(s.value for s in Stage)
CHECKS = ("vs_eager", "vs_quantized", "vs_peer", "vs_tosa", "vs_labels", "vs_ideal")
_XFAIL_KEYS = {"stage", "executors", "checks", "message", "max", "min", "seeds", "reason"}
_UNSUPPORTED_KEYS = {"cpu", "float", "partitions", "reason"}


class ExpectationError(ValueError):
    pass


@dataclass(frozen=True)
class KnownFailure:
    """One [xfail] entry: what it covers and how bad it may be."""

    reason: str
    stage: str = ""  # a stage failure (lower, run, ...); "" for a check failure
    executors: tuple[str, ...] = ()  # () = every executor (stage failures only)
    checks: tuple[str, ...] = ()
    message: str = ""  # regular expression
    max: dict[str, float] = field(default_factory=dict)
    min: dict[str, float] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()  # the runs' seeds (--seed) it holds on; () = every seed

    def describe(self) -> str:
        what = f"at {self.stage}" if self.stage else f"on {'/'.join(self.checks)}"
        who = f" by {'/'.join(self.executors)}" if self.executors else ""
        on = f" on seed {'/'.join(map(str, self.seeds))}" if self.seeds else ""
        return f"{what}{who}{on} ({self.reason})"


@dataclass(frozen=True)
class Expectation:
    cpu: tuple[str, ...] | None = None  # None: everything must be delegated
    cpu_counts: dict[str, int] | None = None  # how often each CPU op may appear; None: listed by name only
    partitions: int | None = None  # how many partitions the program has; None: not said
    unsupported: str = ""  # the reason CPU (or float) ops are expected
    float_ops: tuple[str, ...] = ()  # on integer targets: ops a delegate may compute in float
    xfail: tuple[KnownFailure, ...] = ()
    tolerance: dict[str, float] = field(default_factory=dict)
    # What a clean run on the pinned stack measured for this case (etconform.judging.oracle):
    # None when the target has no baselines, {} when it has none for this case.
    baseline: dict[str, Any] | None = None


def op_key(op: str) -> str:
    """One spelling for an operator: "aten.view_copy" and "aten_view_copy_default" match."""
    return op.replace(".", "_").removesuffix("_default")


@cache
def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ExpectationError(f"{path}: not valid TOML: {exc}") from exc
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ExpectationError(f"{path}: unknown sections {sorted(unknown)}; known: {sorted(_SECTIONS)}")
    return data


def _lookup(section: dict[str, Any], case: Case) -> Any:
    return section.get(case.id, section.get(case.subject))


def _known_failure(where: str, value: Any) -> KnownFailure:
    if not isinstance(value, dict):
        raise ExpectationError(f"{where} must be a table")
    unknown = set(value) - _XFAIL_KEYS
    if unknown:
        raise ExpectationError(f"{where}: unknown fields {sorted(unknown)}; known: {sorted(_XFAIL_KEYS)}")
    stage, checks = value.get("stage", ""), tuple(value.get("checks", ()))
    executors = tuple(value.get("executors", ()))
    if not value.get("reason"):
        raise ExpectationError(f"{where} needs a reason")
    if bool(stage) == bool(checks):
        raise ExpectationError(f"{where} needs either stage (one of {list(STAGES)}) or checks ({list(CHECKS)}), not both")
    if stage and stage not in STAGES:
        raise ExpectationError(f"{where}: stage {stage!r} is not one of {list(STAGES)}")
    if any(c not in CHECKS for c in checks):
        raise ExpectationError(f"{where}: checks {list(checks)} must be among {list(CHECKS)}")
    if not executors and (checks or stage not in BEFORE_EXECUTION):
        raise ExpectationError(f"{where} must name its executors: a {stage or 'check'} failure is one executor's")
    if checks and not (value.get("max") or value.get("min") or value.get("message")):
        raise ExpectationError(f"{where} needs a ceiling (max = {{...}} or min = {{...}}) or a message: how bad may it be?")
    for bound in ("max", "min"):
        if not all(isinstance(v, (int, float)) for v in value.get(bound, {}).values()):
            raise ExpectationError(f"{where}: {bound} must map metric names to numbers")
    seeds = value.get("seeds", [])
    if not (isinstance(seeds, list) and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in seeds)):
        raise ExpectationError(f"{where}: seeds must be a list of the runs' seeds (--seed), whole numbers")
    if value.get("message"):
        try:
            re.compile(value["message"])
        except re.error as exc:
            raise ExpectationError(f"{where}: message is not a regular expression: {exc}") from exc
    return KnownFailure(value["reason"], stage, executors, checks, value.get("message", ""),
                        dict(value.get("max", {})), dict(value.get("min", {})), tuple(sorted(seeds)))


def _known_failures(where: str, value: Any) -> tuple[KnownFailure, ...]:
    entries = value if isinstance(value, list) else [value]
    return tuple(_known_failure(f"{where}[{i}]" if isinstance(value, list) else where, v) for i, v in enumerate(entries))


@dataclass(frozen=True)
class _Unsupported:
    cpu: tuple[str, ...]
    counts: dict[str, int] | None
    float_ops: tuple[str, ...]
    partitions: int | None
    reason: str


def _cpu(where: str, value: Any) -> _Unsupported:
    """What an [unsupported] entry allows: CPU ops (by count, or by name only), float ops, partitions."""
    if not isinstance(value, dict) or set(value) - _UNSUPPORTED_KEYS or not value.get("reason"):
        raise ExpectationError(f'{where} needs {{cpu = {{op = count, ...}}, float = ["op", ...], partitions = N, reason = "..."}}')
    cpu = value.get("cpu", [])
    if isinstance(cpu, dict):
        if not all(isinstance(n, int) and n > 0 for n in cpu.values()):
            raise ExpectationError(f"{where}: cpu must map operator names to counts (whole numbers above 0)")
    elif not isinstance(cpu, list):
        raise ExpectationError(f"{where}: cpu must be a table of operator counts (or a list of names)")
    if not isinstance(value.get("float", []), list):
        raise ExpectationError(f"{where}: float must be a list of operator names")
    partitions = value.get("partitions")
    if partitions is not None and not (isinstance(partitions, int) and partitions >= 0):
        raise ExpectationError(f"{where}: partitions must be a whole number")
    counts = {op_key(op): n for op, n in cpu.items()} if isinstance(cpu, dict) else None
    return _Unsupported(tuple(op_key(op) for op in cpu), counts, tuple(op_key(op) for op in value.get("float", [])),
                        partitions, value["reason"])


def validate(target: str, cases: tuple[Case, ...] | list[Case], directory: Path = EXPECTATIONS_DIR) -> None:
    """Every key must name a case or an operator; every entry must be well formed."""
    path = directory / f"{target}.toml"
    data = _load(path)
    names = {c.id for c in cases} | {c.subject for c in cases}
    for section, entries in data.items():
        for key, value in entries.items():
            where = f"{path}: [{section}.{key!r}]"
            if key not in names:
                raise ExpectationError(f"{path}: [{section}] key {key!r} matches no case or operator")
            if section == "xfail":
                _known_failures(where, value)
            elif section == "tolerance":
                try:
                    resolve(value)
                except ValueError as exc:
                    raise ExpectationError(f"{where}: {exc}") from exc
            else:
                _cpu(where, value)
    baselines = _baselines(directory / "baselines" / f"{target}.json") or {}
    stale = sorted(set(baselines) - {c.id for c in cases})
    if stale:
        raise ExpectationError(f"{directory / 'baselines' / f'{target}.json'}: baselines of no case: {stale[:5]}")


def for_case(target: str, case: Case, seed: int | None, directory: Path = EXPECTATIONS_DIR) -> Expectation:
    """What is known of `case` on `target` in a run of `seed` (--seed): a known failure scoped to
    other seeds is not there. None: every known failure, whatever its seeds (for reports)."""
    path = directory / f"{target}.toml"
    data = _load(path)
    unsupported = _lookup(data.get("unsupported", {}), case)
    xfail = _lookup(data.get("xfail", {}), case)
    allowed = _cpu(f"{path}: [unsupported]", unsupported) if unsupported is not None else None
    return Expectation(
        cpu=allowed.cpu if allowed else None,
        cpu_counts=allowed.counts if allowed else None,
        partitions=allowed.partitions if allowed else None,
        unsupported=allowed.reason if allowed else "",
        float_ops=allowed.float_ops if allowed else (),
        xfail=tuple(e for e in _known_failures(f"{path}: [xfail]", xfail)
                    if seed is None or not e.seeds or seed in e.seeds) if xfail is not None else (),
        tolerance=_lookup(data.get("tolerance", {}), case) or {},
        baseline=_baseline(target, case.id, directory / "baselines"),
    )


@cache
def _baselines(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())["cases"]
    except (ValueError, KeyError) as exc:
        raise ExpectationError(f"{path}: not a baselines file ({exc}); rewrite it with `etconform baselines`") from exc


def _baseline(target: str, case: str, directory: Path) -> dict[str, Any] | None:
    found = _baselines(directory / f"{target}.json")
    return None if found is None else found.get(case, {})
