"""What an Allure report reads beside the test results (--alluredir): the run's environment
(environment.properties) and how to sort its failures (categories.json), by stage as the HTML
report does. Allure takes the first category whose status and message match."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from etconform.stages import Stage

# The judgement's message (etconform.judging.policy.judge) starts with the cause for these, after pytest's
# "Failed: "; a known failure's (etconform.plugin.hooks) says its stage: "XFAIL known failure at compare: ...".
_FIRST = [
    {"name": "bad case (a bug in the suite, not the backend)", "matchedStatuses": ["failed"],
     "messageRegex": "(?s)(Failed: )?BAD CASE.*"},
    {"name": "known failure that passed (tighten the expectations)", "matchedStatuses": ["failed"],
     "messageRegex": r"(?s)(Failed: )?XPASS\(strict\).*"},
    {"name": "lost coverage (verified lower than its baseline)", "matchedStatuses": ["failed"],
     "messageRegex": "(?s)(Failed: )?LOST COVERAGE.*"},
]


def categories() -> list[dict[str, Any]]:
    failed = [{"name": f"failed at {s.value}", "matchedStatuses": ["failed"],
               "messageRegex": rf"(?s).*: (fail|mismatch|error)@{s.value}\b.*"} for s in Stage]
    known = [{"name": f"known failure at {s.value}", "matchedStatuses": ["skipped"],
              "messageRegex": rf"(?s).*known failure at {s.value}:.*"} for s in Stage]
    return [*_FIRST, *failed, *known]


def _escaped(value: Any) -> str:
    """A .properties value: backslashes, and the separators a key would end at, escaped."""
    return str(value).replace("\\", "\\\\").replace("\n", " ").replace("=", "\\=").replace(":", "\\:")


def environment(info: dict[str, Any]) -> dict[str, str]:
    """The run's description (etconform.plugin.runinfo) as Allure's Environment widget shows it."""
    found = {"etconform_commit": info.get("etconform_commit", ""), "command": info.get("command", ""),
             "workers": info.get("workers", ""), "seed": info.get("base_seed", "")}
    found |= {k: v for k, v in (info.get("versions") or {}).items()}
    found |= {f"machine.{k}": v for k, v in (info.get("machine") or {}).items()}
    return {k: str(v) for k, v in found.items() if v not in ("", None)}


def write(folder: Path, info: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "environment.properties").write_text(
        "".join(f"{k}={_escaped(v)}\n" for k, v in sorted(environment(info).items())))
    (folder / "categories.json").write_text(json.dumps(categories(), indent=1))
