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


def test_xdist_workers_records_merge_into_one_file(tmp_path):
    results = tmp_path / "results"
    node = "suites/xnnpack/test_operators.py::test_operator[{}-xnnpack_fp32]"
    nodes = [node.format(c) for c in ("add-4d_same", "sub-2d_same", "mul-3d_same", "relu-4d")]
    env = {**os.environ, "PYTEST_ADDOPTS": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-q", "-p", "no:cacheprovider", *nodes, "--results-dir", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    records = [json.loads(line) for line in (results / RECORDS).read_text().splitlines()]
    parts = sorted(p.name for p in (results / ".parts").glob("records-*.jsonl"))
    assert parts == ["records-gw0.jsonl", "records-gw1.jsonl"]
    assert len(records) == 8 and {r["executor"] for r in records} == {"et_runtime", "device"}
    assert {r["outcome"] for r in records if r["executor"] == "device"} == {"skip"}
    assert all(r["outcome"] == "pass" and r["metrics"]["max_abs_err"] == 0.0 for r in records if r["executor"] == "et_runtime")
    assert "etconform" in proc.stdout and "xnnpack_fp32     pass 4" in proc.stdout
    for name in ("report.html", "report.md", "report.json", "support_matrix.md", "support_matrix.json"):
        assert (results / name).stat().st_size > 0, name


def test_a_crashed_worker_leaves_a_record_naming_the_case():
    from etconform.plugin.hooks import crash_record

    record = crash_record("suites/ethos_u/test_operators.py::test_operator[conv2d-3x3_stride2-ethos_u55_128]", "SIGSEGV",
                          seed=3)
    assert (record["case"], record["target"], record["outcome"], record["stage"]) == ("conv2d-3x3_stride2", "ethos_u55_128", "fail", "run")
    assert "crashed" in record["message"] and "SIGSEGV" in record["message"]
    # The runner's record shape: a role, the case's own seed, the finding the policy decided it by.
    assert record["role"] == "other" and record["seed"] != 3 and record["findings"][0]["stage"] == "run"
    assert crash_record("tests/test_x.py::test_y", "x") is None


@pytest.mark.parametrize("known", [False, True])
def test_a_native_crash_in_the_partitioner_fails_its_case_unless_a_known_failure_names_it(tmp_path, known):
    """XNNPACK's partitioner planted to segfault (tests/faults/sut.py): the worker dies, xdist restarts it,
    and the crash's record is decided by the policy like any other: a stage entry naming it makes it xfail."""
    (tmp_path / "xnnpack_fp32.toml").write_text(
        '[xfail."relu-4d"]\nstage = "lower"\nmessage = "the test process crashed .* at lower"\nreason = "a known crash"\n'
        if known else "")
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1", "-p", "tests.faults.planted",
         "suites/xnnpack/test_operators.py::test_operator[relu-4d-xnnpack_fp32]", "--results-dir", str(results),
         "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTEST_ADDOPTS": "", "ETCONFORM_PLANT": "partitioner_segfault",
             "ETCONFORM_EXPECTATIONS": str(tmp_path)},
    )
    (record,) = [r for r in map(json.loads, (results / RECORDS).read_text().splitlines()) if r["executor"] == "process"]
    assert record["stage"] == "lower" and "crashed" in record["message"], record
    if known:
        assert (record["outcome"], record["expected"]) == ("xfail", "a known crash")
        assert proc.returncode == 0 and "1 xfailed" in proc.stdout, proc.stdout[-2000:]
    else:
        assert record["outcome"] == "fail"
        assert proc.returncode == 1 and "1 failed" in proc.stdout, proc.stdout[-2000:]


def test_a_session_without_conformance_tests_leaves_earlier_records_alone(tmp_path):
    (tmp_path / RECORDS).write_text('{"case": "kept"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "tests/test_compare.py",
         "--results-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTEST_ADDOPTS": ""},
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / RECORDS).read_text() == '{"case": "kept"}\n'
