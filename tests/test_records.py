"""Records: one write per record, merged atomically, and merged across real xdist workers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etconform.records import RECORDS, RecordWriter, merge_parts

REPO = Path(__file__).resolve().parent.parent


def _record(case, executor="tosa_ref", outcome="pass"):
    return {"case": case, "target": "t", "executor": executor, "outcome": outcome}


def test_parts_of_several_workers_merge_sorted(tmp_path):
    RecordWriter(tmp_path, "gw1").write(_record("b"))
    RecordWriter(tmp_path, "gw0").write(_record("a"))
    RecordWriter(tmp_path, "gw0").write(_record("c", outcome="mismatch"))
    merged = merge_parts(tmp_path)
    assert [r["case"] for r in merged] == ["a", "b", "c"]
    assert [json.loads(line)["case"] for line in (tmp_path / RECORDS).read_text().splitlines()] == ["a", "b", "c"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_line_cut_short_by_a_killed_worker_loses_only_itself(tmp_path):
    writer = RecordWriter(tmp_path, "gw0")
    writer.write(_record("a"))
    with writer.path.open("a") as f:
        f.write('{"case": "b", "outc')  # the worker died mid-write
    RecordWriter(tmp_path, "gw1").write(_record("c"))
    assert [r["case"] for r in merge_parts(tmp_path)] == ["a", "c"]


def test_an_unknown_outcome_is_refused(tmp_path):
    with pytest.raises(ValueError, match="outcome"):
        RecordWriter(tmp_path, "gw0").write(_record("a", outcome="ok"))


def test_a_crashed_worker_leaves_a_record_naming_the_case():
    from etconform.plugin.hooks import crash_record

    record = crash_record("suites/ethos_u/test_operators.py::test_operator[conv2d-3x3_stride2-ethos_u55_128]", "SIGSEGV",
                          seed=3)
    assert (record["case"], record["target"], record["outcome"], record["stage"]) == ("conv2d-3x3_stride2", "ethos_u55_128", "fail", "run")
    assert "crashed" in record["message"] and "SIGSEGV" in record["message"]
    # The runner's record shape: a role, the case's own seed, the finding the policy decided it by.
    assert record["role"] == "other" and record["seed"] != 3 and record["findings"][0]["stage"] == "run"
    assert crash_record("tests/test_x.py::test_y", "x") is None


def test_a_native_crash_in_the_partitioner_fails_its_case_unless_a_known_failure_names_it(tmp_path):
    """XNNPACK's partitioner planted to segfault (tests/faults/sut.py): the worker dies at each case, xdist
    restarts it, and each crash's record is decided by the policy like any other: a stage entry naming it
    makes relu-4d xfail, and abs-4d, which no entry names, fails."""
    (tmp_path / "xnnpack_fp32.toml").write_text(
        '[xfail."relu-4d"]\nstage = "lower"\nmessage = "the test process crashed .* at lower"\nreason = "a known crash"\n')
    results = tmp_path / "results"
    node = "suites/xnnpack/test_operators.py::test_operator[{}-xnnpack_fp32]"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1", "-p", "tests.faults.planted",
         node.format("relu-4d"), node.format("abs-4d"), "--results-dir", str(results), "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTEST_ADDOPTS": "", "ETCONFORM_PLANT": "partitioner_segfault",
             "ETCONFORM_EXPECTATIONS": str(tmp_path)},
    )
    crashes = {r["case"]: r for r in map(json.loads, (results / RECORDS).read_text().splitlines()) if r["executor"] == "process"}
    assert set(crashes) == {"relu-4d", "abs-4d"}, proc.stdout[-2000:]
    assert all(r["stage"] == "lower" and "crashed" in r["message"] for r in crashes.values()), crashes
    assert (crashes["relu-4d"]["outcome"], crashes["relu-4d"]["expected"]) == ("xfail", "a known crash")
    assert crashes["abs-4d"]["outcome"] == "fail"
    assert proc.returncode == 1 and "1 failed" in proc.stdout and "1 xfailed" in proc.stdout, proc.stdout[-2000:]


def test_a_session_without_conformance_tests_leaves_earlier_records_alone(tmp_path):
    (tmp_path / RECORDS).write_text('{"case": "kept"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "tests/test_compare.py",
         "--results-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTEST_ADDOPTS": ""},
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / RECORDS).read_text() == '{"case": "kept"}\n'
