"""What is known per target, as data: suites/expectations/<target>.toml.

    [unsupported]                      # fallback to the CPU expected, and checked
    "reshape-flatten" = "why"
    [xfail."gelu-tanh_approx"]         # a known bug: strict, with the stage(s) it fails at
    stage = "compare"                  # or a list: ["compare", "run"]
    reason = "why"
    [tolerance.sigmoid]                # overrides of etconform.tolerances.Tolerance
    qtol_steps = 2

A key is a case id (`conv2d-3x3`) or an operator name (`conv2d`: all its cases). A key
that matches no case is an error at collection.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from etconform.cases import Case
from etconform.stages import Stage
from etconform.tolerances import resolve

# ETCONFORM_EXPECTATIONS points at another folder, e.g. one kept for a candidate release.
EXPECTATIONS_DIR = Path(
    os.environ.get("ETCONFORM_EXPECTATIONS", Path(__file__).resolve().parent.parent / "suites" / "expectations")
)
_SECTIONS = {"unsupported", "xfail", "tolerance"}


class ExpectationError(ValueError):
    pass


@dataclass(frozen=True)
class Expectation:
    unsupported: str = ""  # the reason, when a fallback is expected
    xfail_stages: tuple[str, ...] = ()  # the stages its executors fail at (a mismatch is "compare")
    xfail_reason: str = ""
    tolerance: dict[str, float] = field(default_factory=dict)


@cache
def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ExpectationError(f"{path}: unknown sections {sorted(unknown)}; known: {sorted(_SECTIONS)}")
    return data


def _lookup(section: dict[str, Any], case: Case) -> Any:
    return section.get(case.id, section.get(case.subject))


def validate(target: str, cases: tuple[Case, ...] | list[Case], directory: Path = EXPECTATIONS_DIR) -> None:
    """Every key must name a case or an operator; every entry must be well formed."""
    path = directory / f"{target}.toml"
    data = _load(path)
    names = {c.id for c in cases} | {c.subject for c in cases}
    stages = {s.value for s in Stage}
    for section, entries in data.items():
        for key, value in entries.items():
            if key not in names:
                raise ExpectationError(f"{path}: [{section}] key {key!r} matches no case or operator")
            if section == "xfail":
                given = value.get("stage") if isinstance(value, dict) else None
                listed = given if isinstance(given, list) else [given]
                if not listed or any(s not in stages for s in listed) or not value.get("reason"):
                    raise ExpectationError(f"{path}: [xfail.{key!r}] needs stage (one of {sorted(stages)}, or a list) and reason")
            if section == "tolerance":
                resolve(value)  # raises on unknown keys
            if section == "unsupported" and not (isinstance(value, str) and value):
                raise ExpectationError(f"{path}: [unsupported] {key!r} needs a reason")


def for_case(target: str, case: Case, directory: Path = EXPECTATIONS_DIR) -> Expectation:
    data = _load(directory / f"{target}.toml")
    xfail = _lookup(data.get("xfail", {}), case) or {}
    stages = xfail.get("stage", [])
    return Expectation(
        unsupported=_lookup(data.get("unsupported", {}), case) or "",
        xfail_stages=tuple(stages if isinstance(stages, list) else [stages]),
        xfail_reason=xfail.get("reason", ""),
        tolerance=_lookup(data.get("tolerance", {}), case) or {},
    )


def draft(records: list[dict[str, Any]], target: str) -> str:
    """A TOML draft of what a run found on `target`: failures as xfail, fallbacks as unsupported.

    A starting point to review, not to commit blindly: each entry says what was seen.
    """
    failing: dict[str, dict[str, Any]] = {}
    fallback: dict[str, str] = {}
    for r in records:
        if r["target"] != target:
            continue
        if r["outcome"] in ("mismatch", "fail") and r.get("stage"):
            entry = failing.setdefault(r["case"], {"stages": set(), "reason": r["message"]})
            entry["stages"].add(r["stage"])
        elif r["outcome"] == "fallback":
            fallback[r["case"]] = r["message"]
    lines = [f"# Drafted from a run's records for {target}: review each entry before committing.", ""]
    if fallback:
        lines.append("[unsupported]")
        lines += [f"{json.dumps(case)} = {json.dumps(why[:200])}" for case, why in sorted(fallback.items())]
        lines.append("")
    for case, entry in sorted(failing.items()):
        stages = sorted(entry["stages"])
        lines += [f"[xfail.{json.dumps(case)}]", f"stage = {json.dumps(stages[0] if len(stages) == 1 else stages)}",
                  f"reason = {json.dumps(entry['reason'][:300])}", ""]
    return "\n".join(lines)
