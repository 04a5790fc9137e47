"""etconform qualify: GO on two runs of the same build, NO-GO naming the cause when a fault is planted.

The runs are real (export, quantize, partition, lower, run on the ExecuTorch runtime);
the faults are wrapped around the real runtime and partitioner, as in test_policy.
"""

import json

import pytest

from etconform.__main__ import main
from etconform.analysis import qualify
from etconform.records import RECORDS, RecordWriter, merge_parts
from etconform.runner import run_case
from etconform.targets import TARGETS
from tests.records import record
from tests.test_policy import ADD, CONV, _lost_partition_target, _offset_runtime

INT8 = "xnnpack_int8"


def _run(folder, target=INT8, cases=(ADD,)):
    writer = RecordWriter(folder, "selftest")
    target = TARGETS[target] if isinstance(target, str) else target
    for case in cases:
        run_case(case, target, folder, writer, 0, f"selftest[{case.id}-{target.name}]")
    merge_parts(folder)
    return str(folder)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("baseline"))


def _qualify(baseline, candidate, capsys):
    status = main(["qualify", baseline, candidate])
    return status, capsys.readouterr().out


def test_two_runs_of_the_same_build_are_go(baseline, tmp_path, capsys):
    status, out = _qualify(baseline, _run(tmp_path / "again"), capsys)
    assert status == 0, out
    assert out.startswith("# Qualification: GO") and "What differs in the stack: nothing" in out
    assert (tmp_path / "again" / "qualify.html").read_text().count("<b>pass</b>") == len(qualify.GATES)


def test_a_biased_runtime_is_no_go_as_a_new_failure(baseline, tmp_path, capsys, monkeypatch):
    _offset_runtime(monkeypatch, steps=5)
    status, out = _qualify(baseline, _run(tmp_path / "biased"), capsys)
    assert status == 1
    assert "| no new failure | FAIL | 1 |" in out
    assert "pass -> mismatch@compare" in out and "et_runtime" in out


def test_a_lost_partition_is_no_go_as_lost_delegation(tmp_path, capsys):
    base = _run(tmp_path / "base", "xnnpack_fp32", (CONV,))
    status, out = _qualify(base, _run(tmp_path / "lost", _lost_partition_target("xnnpack_fp32"), (CONV,)), capsys)
    assert status == 1
    assert "| no lost delegation | FAIL | 1 |" in out
    assert "now on the CPU: ['aten_convolution_default']; partition lost: partitions 1 -> 0, nothing delegated" in out


def _records(folder, records):
    folder.mkdir()
    (folder / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(folder)


def _vela(case, ms, version):
    return record(case, "ethos_u55_128", "info", "vela", versions={"ethos-u-vela": version},
                  estimate={"inference_time_ms": ms}, delegation={}, metrics={}, checks=[])


def test_one_cause_is_one_group_and_the_changed_package_is_named(tmp_path, capsys):
    cases = [f"conv2d-k{i}" for i in range(5)]
    base = _records(tmp_path / "b", [_vela(c, 1.0, "5.1.0") for c in cases])
    cand = _records(tmp_path / "c", [_vela(c, 1.0 + i / 10 + 0.1, "5.2.0") for i, c in enumerate(cases)])
    status, out = _qualify(base, cand, capsys)
    assert status == 1 and "| no NPU-estimate regression | FAIL | 5 |" in out
    assert "ethos-u-vela 5.1.0 -> 5.2.0" in out
    causes = [line for line in out.split("## Causes")[1].splitlines() if line[:1].isdigit()]
    assert len(causes) == 1 and causes[0].startswith("1. **no NPU-estimate regression**: 5 findings on ethos_u55_128")
    assert "e.g. conv2d-k0 on ethos_u55_128: inference_time_ms 1 -> 1.1 (+10%); also conv2d-k1" in causes[0]


def test_a_partial_candidate_is_no_go_and_says_why(tmp_path, capsys):
    base = _records(tmp_path / "b", [_vela("conv2d-a", 1.0, "5.1.0"), _vela("conv2d-b", 1.0, "5.1.0")])
    cand = _records(tmp_path / "c", [_vela("conv2d-a", 1.0, "5.1.0")])
    status, out = _qualify(base, cand, capsys)
    assert status == 1 and "the candidate ran 1 of the baseline's 2" in out


def test_a_folder_without_records_is_a_usage_error(tmp_path, capsys):
    assert main(["qualify", str(tmp_path), str(tmp_path)]) == 2
    assert "no records.jsonl" in capsys.readouterr().err


def test_a_candidate_verified_below_the_committed_baselines_is_no_go_whatever_its_baseline_run_said(tmp_path, capsys):
    """abs-4d's committed U55 baseline was verified at the command stream; a candidate whose stream skipped it
    (a mode the functional model lacks, say) verified the TOSA graph only: lost coverage, even against a
    baseline run that lost it too."""
    def run(folder):
        common = {"versions": {}, "delegation": {"partitions": 1}, "metrics": {}, "checks": []}
        return _records(folder, [
            record("abs-4d", "ethos_u55_128", "pass", "tosa_ref", **common),
            record("abs-4d", "ethos_u55_128", "skip", "stream", message="the functional model lacks round mode TRUNCATE",
                   **common)])

    status, out = _qualify(run(tmp_path / "b"), run(tmp_path / "c"), capsys)
    assert status == 1 and "| no lost coverage (nothing verified became skipped or vanished) | FAIL | 1 |" in out
    assert "LOST COVERAGE: verified at 'tosa' where the baseline verified 'stream'" in out
    assert "the functional model lacks round mode TRUNCATE" in out
