"""Records: one JSON object per case x target x executor.

Each process appends to its own part file (one write per record, flushed), and the
controller merges the parts into records.jsonl by writing a temporary file and
renaming it, so a reader never sees a half-written records.jsonl.
"""

from __future__ import annotations

import enum
import json
import os
import platform
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from etconform.cases import mixed_seed


class Outcome(enum.StrEnum):
    """A record's outcome; which one a record gets, etconform.judging.policy.decide says."""
    PASS = "pass"  # compared and agreed, everything delegated
    FALLBACK = "fallback"  # compared and agreed, with compute on the CPU as the expectations list
    MISMATCH = "mismatch"  # compared, a check failed
    FAIL = "fail"  # a stage failed
    ERROR = "error"  # the case itself is broken: the suite's bug
    SKIP = "skip"  # the executor could not run here
    XFAIL = "xfail"  # failed as a known failure says
    INFO = "info"  # an estimate, nothing to compare


OUTCOMES = tuple(o.value for o in Outcome)
PARTS = ".parts"
RECORDS = "records.jsonl"


STACK = ("torch", "executorch", "ethos-u-vela", "tosa-tools", "torchao", "ml-dtypes")
UNDER_TEST_FILE = "etconform-under-test.json"  # written into the venv by ./run setup


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in STACK:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "absent"
    return {**found, **under_test(Path(sys.prefix))}


def under_test(prefix: Path) -> dict[str, str]:
    """The stack ./run was asked for, and whether pip's pins were overridden to install it."""
    try:
        named = json.loads((prefix / UNDER_TEST_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {"under_test": str(named.get("spec", "")), "pip_override": "yes" if named.get("pip_override") else "no"}


def new_record(case: Any, target: Any, executor: str, seed: int, test_id: str, **fields: Any) -> dict[str, Any]:
    """The one shape of a record, for the runner and for a test whose process died. `case`: an
    etconform.cases.Case, `target` an etconform.targets.Target, `seed` the run's base seed.
    The outcome is not set here: etconform.judging.policy.decide sets it, once."""
    from executors import EXECUTORS

    kind = EXECUTORS.get(executor)
    return {
        "case": case.id, "kind": case.kind, "subject": case.subject, "variant": case.variant,
        "target": target.name, "backend": target.backend, "executor": executor,
        "role": getattr(kind, "role", "other"), "level": getattr(kind, "level", ""),
        "seed": case.seed(seed), "test_id": test_id, "versions": versions(),
        "stage": None, "message": "", "checks": [], "findings": [], "metrics": {}, "tolerance": {},
        "delegation": {}, "latency": {}, **fields,
    }


def run_seed(record: dict[str, Any]) -> int:
    """The run's base seed (--seed) a record came from; the record keeps its case's own."""
    return mixed_seed(record["case"], record["seed"])


class RecordWriter:
    def __init__(self, results_dir: Path, worker: str):
        self.path = results_dir / PARTS / f"records-{worker}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        if record.get("outcome") not in OUTCOMES:
            raise ValueError(f"record outcome {record.get('outcome')!r} is not one of {OUTCOMES}")
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write per record: a crash loses at most this line
        finally:
            os.close(fd)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed process is dropped, the rest stays valid
    return records


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def merge_parts(results_dir: Path) -> list[dict[str, Any]]:
    """Merge every worker's part file into records.jsonl; returns the merged records."""
    records = []
    for part in sorted((results_dir / PARTS).glob("records-*.jsonl")):
        records.extend(read_jsonl(part))
    records.sort(key=lambda r: (r.get("case", ""), r.get("target", ""), r.get("executor", "")))
    write_atomic(results_dir / RECORDS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return records


def clear_parts(results_dir: Path) -> None:
    for part in (results_dir / PARTS).glob("records-*.jsonl"):
        part.unlink()
