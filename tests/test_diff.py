"""diff: what changed between two runs, from their records; exit 1 on a regression."""

import copy
import json

import pytest

from etconform.__main__ import main
from etconform.analysis.diff import Thresholds, diff
from etconform.records import RECORDS
from tests.records import record as _record

U55, INT8 = "ethos_u55_128", "xnnpack_int8"
VELA = {"inference_time_ms": 0.02, "cycles_total": 10000, "cycles_npu": 9000, "nn_macs": 100,
        "sram_memory_used": 4096, "dram_memory_used": 0, "off_chip_flash_memory_used": 2048,
        "on_chip_flash_memory_used": 0}


@pytest.fixture
def run_records():
    mobilenet = {"delegated_nodes": 348, "total_nodes": 360, "partitions": 1, "undelegated_ops": {}}
    return [
        _record("conv2d-3x3", U55, executor="quantized_eager", checks=["vs_eager"]),
        _record("conv2d-3x3", U55),
        _record("conv2d-3x3", U55, "info", "vela", estimate=dict(VELA), checks=[]),
        _record("conv2d-3x3", U55, executor="fvp", estimate={"npu_cycles": 123456, "cpu_cycles": 200000},
                checks=["vs_eager", "vs_quantized", "vs_peer"]),
        _record("conv2d-3x3", U55, "skip", "device", message="no --device given", checks=[]),
        _record("mobilenet_v2-224", INT8, executor="quantized_eager", kind="model", delegation=mobilenet,
                latency={"median_ms": 40.0, "cv": 0.02, "runs": 10}, checks=["vs_eager"]),
        _record("mobilenet_v2-224", INT8, executor="et_runtime", kind="model", delegation=mobilenet,
                latency={"median_ms": 5.0, "cv": 0.02, "runs": 10}),
        _record("mobilenet_v2-224", INT8, executor="device", kind="model", delegation=mobilenet,
                latency={"median_ms": 9.0, "cv": 0.02, "runs": 10}),
    ]


def _write(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RECORDS).write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def _find(records, case, executor):
    return next(r for r in records if r["case"] == case and r["executor"] == executor)


def _cli(tmp_path, old, new, *options):
    return main(["diff", str(_write(tmp_path / "old", old)), str(_write(tmp_path / "new", new)), *options])


def test_identical_runs_diff_empty_and_exit_zero(tmp_path, run_records, capsys):
    assert _cli(tmp_path, run_records, copy.deepcopy(run_records)) == 0
    assert capsys.readouterr().out.strip() == "no differences"


def test_tripled_vela_cycles_are_a_regression(tmp_path, run_records, capsys):
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "vela")["estimate"]["cycles_total"] = 30000
    assert _cli(tmp_path, run_records, new) == 1
    out = capsys.readouterr().out
    assert "regressions per target: ethos_u55_128 1" in out
    assert "estimate   conv2d-3x3 on ethos_u55_128 [vela]: cycles_total 10000 -> 30000 (+200%)" in out


def test_tenfold_sram_is_a_regression(run_records):
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "vela")["estimate"]["sram_memory_used"] = 40960
    assert [c.text for c in diff(run_records, new).regressions] == ["sram_memory_used 4096 -> 40960 (+900%)"]


def test_fvp_cycles_rise_counts_and_the_margin_is_an_option(tmp_path, run_records):
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "fvp")["estimate"]["npu_cycles"] = 123456 * 1.2
    assert [c.text for c in diff(run_records, new).regressions] == ["npu_cycles 123456 -> 148147 (+20%)"]
    assert _cli(tmp_path, run_records, new, "--estimate-margin", "0.25") == 0


def test_estimates_within_margin_are_quiet_and_a_drop_is_no_regression(run_records):
    new = copy.deepcopy(run_records)
    vela = _find(new, "conv2d-3x3", "vela")["estimate"]
    vela.update(cycles_total=10400, off_chip_flash_memory_used=1024)  # +4%, then -50%
    result = diff(run_records, new)
    assert not result.regressions
    assert [c.text for c in result.changes] == ["off_chip_flash_memory_used 2048 -> 1024 (-50%)"]


def test_pass_to_skip_is_coverage_lost(tmp_path, run_records, capsys):
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "fvp").update(outcome="skip", message="no FVP: get Corstone-300", checks=[])
    assert _cli(tmp_path, run_records, new) == 1
    out = capsys.readouterr().out
    assert "coverage   conv2d-3x3 on ethos_u55_128 [fvp]: coverage lost: was pass, now skip: no FVP" in out
    assert "no longer runs" not in out  # the skip says it; its checks are not listed again


def test_a_vanished_record_is_a_regression_unless_it_was_a_skip(run_records):
    new = [r for r in run_records if r["executor"] not in ("tosa_ref", "device")]
    result = diff(run_records, new)
    assert [(c.kind, c.executors, c.text) for c in result.regressions] == [
        ("removed", ["tosa_ref"], "vanished: was pass, not in the new run"),
        ("removed", ["device"], "vanished: was pass, not in the new run"),
    ]
    # conv2d's device record was a skip: its going is a note, not a regression
    assert [(c.kind, c.key[0], c.regression) for c in result.changes if c.executors == ["device"]] == [
        ("removed", "conv2d-3x3", False), ("removed", "mobilenet_v2-224", True)]


def test_a_check_that_stopped_running_is_a_regression(run_records):
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "fvp")["checks"] = ["vs_eager", "vs_quantized"]
    assert [(c.kind, c.executors, c.text) for c in diff(run_records, new).regressions] == [
        ("check", ["fvp"], "check vs_peer no longer runs")]


def test_fewer_delegated_nodes_in_the_same_partitions_is_no_regression(tmp_path, run_records, capsys):
    new = copy.deepcopy(run_records)
    for r in new:
        if r["case"] == "mobilenet_v2-224":
            r["delegation"] = {**r["delegation"], "delegated_nodes": 346}
    assert _cli(tmp_path, run_records, new) == 0
    out = capsys.readouterr().out
    assert "regressions per target: none" in out and "REGRESSIONS" not in out
    assert out.count("delegation") == 1  # a note, once, not once per executor


def test_a_new_cpu_op_is_one_regression_naming_every_executor(run_records):
    new = copy.deepcopy(run_records)
    for r in new:
        if r["case"] == "mobilenet_v2-224":
            r["outcome"] = "fallback"
            r["delegation"] = {"delegated_nodes": 340, "total_nodes": 360, "partitions": 2,
                               "undelegated_ops": {"aten_hardtanh_default": 1}}
    assert [(c.kind, c.key, c.executors, c.text) for c in diff(run_records, new).regressions] == [
        ("delegation", ("mobilenet_v2-224", INT8), ["quantized_eager", "et_runtime", "device"],
         "now on the CPU: ['aten_hardtanh_default']; more partitions (fragmentation): 1 -> 2")]


def test_a_partition_lost_is_a_regression(run_records):
    new = copy.deepcopy(run_records)
    for r in new:
        if r["case"] == "conv2d-3x3":
            r["delegation"] = {"delegated_nodes": 0, "total_nodes": 8, "partitions": 0, "undelegated_ops": {}}
    result = diff(run_records, new)
    assert [(c.kind, c.text) for c in result.regressions] == [
        ("delegation", "partition lost: partitions 1 -> 0, nothing delegated")]
    assert result.regressions[0].executors == ["quantized_eager", "tosa_ref", "vela", "fvp", "device"]


def test_pass_to_fallback_without_a_delegation_summary_is_still_a_regression(run_records):
    new = copy.deepcopy(run_records)
    for r in run_records + new:
        if r["case"] == "conv2d-3x3":
            r.pop("delegation")
    _find(new, "conv2d-3x3", "tosa_ref")["outcome"] = "fallback"
    assert [(c.kind, c.text) for c in diff(run_records, new).regressions] == [("outcome", "pass -> fallback")]


def test_quantized_eager_latency_is_not_reported_at_all(run_records):
    new = copy.deepcopy(run_records)
    _find(new, "mobilenet_v2-224", "quantized_eager")["latency"]["median_ms"] = 80.0
    assert diff(run_records, new, Thresholds(gate_latency=True)).changes == []


def test_lowered_latency_beyond_noise_is_reported_and_gated_only_on_request(tmp_path, run_records, capsys):
    new = copy.deepcopy(run_records)
    _find(new, "mobilenet_v2-224", "et_runtime")["latency"]["median_ms"] = 10.0
    _find(new, "mobilenet_v2-224", "device")["latency"]["median_ms"] = 9.3  # +3%: noise
    assert _cli(tmp_path, run_records, new) == 0
    assert "latency    mobilenet_v2-224 on xnnpack_int8 [et_runtime]: median 5.000 -> 10.000 ms (+100%, noise 25%)" \
        in capsys.readouterr().out
    assert _cli(tmp_path, run_records, new, "--gate-latency") == 1


def test_accuracy_loss_is_a_regression(run_records):
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "tosa_ref")["metrics"] = {"sqnr_db": 30.0, "max_err_qsteps": 2.5}
    assert [c.text for c in diff(run_records, new).regressions] == [
        "SQNR 40.0 -> 30.0 dB", "max_err_qsteps 0.00 -> 2.50"]


def test_a_failure_seen_by_three_executors_is_one_line(tmp_path, run_records, capsys):
    new = copy.deepcopy(run_records)
    for executor in ("tosa_ref", "fvp", "quantized_eager"):
        _find(new, "conv2d-3x3", executor).update(outcome="fail", stage="quantize", message="boom", checks=[])
    assert _cli(tmp_path, run_records, new) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "pass -> fail@quantize" in line]
    assert lines == ["  outcome    conv2d-3x3 on ethos_u55_128 [quantized_eager, tosa_ref, fvp]: pass -> fail@quantize"]
    assert "REGRESSIONS (1):" in out


def test_a_new_failing_record_and_xfail_turned_failure_are_regressions(run_records):
    old = copy.deepcopy(run_records)
    _find(old, "conv2d-3x3", "tosa_ref").update(outcome="xfail", stage="compare")
    new = copy.deepcopy(run_records)
    _find(new, "conv2d-3x3", "tosa_ref").update(outcome="mismatch", stage="compare")
    new.append(_record("relu-4d", U55, "fail", stage="lower"))
    assert [(c.kind, c.key[0], c.text) for c in diff(old, new).regressions] == [
        ("outcome", "conv2d-3x3", "xfail@compare -> mismatch@compare"), ("added", "relu-4d", "new, fail@lower")]


def test_a_fixed_failure_is_a_progression_not_a_regression(run_records):
    old = copy.deepcopy(run_records)
    _find(old, "conv2d-3x3", "tosa_ref").update(outcome="mismatch", stage="compare")
    result = diff(old, run_records)
    assert not result.regressions and [c.text for c in result.changes] == ["mismatch@compare -> pass"]


def test_a_partition_failure_from_a_new_cpu_op_is_reported_once_as_delegation(run_records):
    new = copy.deepcopy(run_records)
    for r in new:
        if r["case"] == "conv2d-3x3" and r["executor"] != "device":
            r["delegation"] = {**r["delegation"], "undelegated_ops": {"aten_convolution_default": 1}}
            if r["executor"] in ("tosa_ref", "fvp"):
                r.update(outcome="fail", stage="partition", message="aten_convolution_default on the CPU")
    assert [(c.kind, c.text) for c in diff(run_records, new).regressions] == [
        ("delegation", "now on the CPU: ['aten_convolution_default']")]
