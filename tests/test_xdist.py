"""Whole runs under xdist and in CI shards, from one real `-n 2` run of eight tests:
records merge from the workers into one file, a case's targets stay on one worker, and two
pytest-split shards merged with `etconform merge` give the records of the whole run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etconform.records import RECORDS

REPO = Path(__file__).resolve().parent.parent
CASES = ("relu-4d", "abs-4d", "add-4d_same", "sub-2d_same")
TARGETS = ("tosa_fp", "xnnpack_fp32")
SUITES = {"tosa_fp": "suites/ethos_u", "xnnpack_fp32": "suites/xnnpack"}
SELECT = [f"{SUITES[t]}/test_operators.py::test_operator[{c}-{t}]" for c in CASES for t in TARGETS]
# What differs between two honest runs of one case: wall times, paths, where parts came from.
VOLATILE = {"seconds", "latency", "lowering_seconds", "cache", "artifacts", "test_id", "message", "detail"}


def _pytest(results: Path, cache: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *SELECT, "--results-dir",
                           str(results), "--cache-dir", str(cache), *extra], cwd=REPO, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTEST_ADDOPTS": ""})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """The run on two workers; its artifact cache serves the shards (what they test is splitting and merging)."""
    base = tmp_path_factory.mktemp("xdist")
    return base, _pytest(base / "whole", base / "cache", "-n", "2", "-v")


def _records(folder: Path) -> dict:
    out = {}
    for line in (folder / RECORDS).read_text().splitlines():
        r = json.loads(line)
        out[(r["case"], r["target"], r["executor"])] = {k: v for k, v in r.items() if k not in VOLATILE}
    return out


def test_xdist_workers_records_merge_into_one_file(whole):
    base, done = whole
    results = base / "whole"
    records = [json.loads(line) for line in (results / RECORDS).read_text().splitlines()]
    parts = sorted(p.name for p in (results / ".parts").glob("records-*.jsonl"))
    assert parts == ["records-gw0.jsonl", "records-gw1.jsonl"]
    xnnpack = [r for r in records if r["target"] == "xnnpack_fp32"]
    assert {r["case"] for r in records} == set(CASES) and len(xnnpack) == 8
    assert {r["executor"] for r in xnnpack} == {"et_runtime", "device"}
    assert {r["outcome"] for r in xnnpack if r["executor"] == "device"} == {"skip"}
    assert all(r["outcome"] == "pass" and r["metrics"]["max_abs_err"] == 0.0 for r in xnnpack if r["executor"] == "et_runtime")
    assert "etconform" in done.stdout and "xnnpack_fp32     pass 4" in done.stdout
    for name in ("report.html", "report.md", "report.json", "support_matrix.md", "support_matrix.json"):
        assert (results / name).stat().st_size > 0, name


def test_under_xdist_a_cases_operator_tests_run_on_one_worker_one_after_another(whole):
    base, _ = whole
    workers: dict[str, set[str]] = {}
    targets: dict[str, set[str]] = {}
    for part in (base / "whole" / ".parts").glob("records-*.jsonl"):
        for line in part.read_text().splitlines():
            record = json.loads(line)
            workers.setdefault(record["case"], set()).add(part.stem)
            targets.setdefault(record["case"], set()).add(record["target"])
    assert set(workers) == set(CASES)
    assert all(t == set(TARGETS) for t in targets.values()), targets
    assert all(len(w) == 1 for w in workers.values()), workers
    assert len(set().union(*workers.values())) == 2, workers  # both workers had cases


def test_two_merged_shards_give_the_records_of_one_run(whole):
    base, _ = whole
    for group in ("1", "2"):
        _pytest(base / f"shard{group}", base / "cache", "-q", "--splits", "2", "--group", group)
    shards = [_records(base / f"shard{g}") for g in ("1", "2")]
    assert shards[0] and shards[1] and not set(shards[0]) & set(shards[1])  # each test in one shard only
    done = subprocess.run([sys.executable, "-m", "etconform", "merge", str(base / "shard1"), str(base / "shard2"),
                           "-o", str(base / "merged")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    whole_records, merged = _records(base / "whole"), _records(base / "merged")
    assert len(whole_records) == 12 and merged == whole_records  # 4 on tosa_ref, 8 on et_runtime and device
    assert (base / "merged" / "report.html").exists()
