"""The report's first screen: the verdict, the run as recorded while it ran, causes, the model table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from etconform.analysis import causes, report
from etconform.judging.budget import fits, parse_budget
from etconform.lowering.vela import read_summary, total_estimate
from tests.records import record as _record

REPO = Path(__file__).resolve().parent.parent
SELECT = ["suites/xnnpack", "-m", "operator", "-k", "xnnpack_fp32 and relu-4d"]


def _pytest(results: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *SELECT, "--results-dir",
                           str(results), "--cache-dir", str(results.parent / "cache"), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """Two runs of one case: the first with its report planted to break (tests/faults/broken_report.py),
    the second held to the first's records as its baseline."""
    base = tmp_path_factory.mktemp("first_screen")
    first = base / "first"
    first.mkdir()
    (first / "report.html").write_text("an earlier run's report")
    broken = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.faults.broken_report",
                             "-q", *SELECT, "--results-dir", str(first), "--cache-dir", str(base / "cache")],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    _pytest(base / "again", "--baseline", str(first), "--memory-budget", "sram=384KiB")
    return base, broken


def test_a_run_records_how_it_ran_and_its_report_says_so(runs):
    tmp_path, _ = runs
    run = json.loads((tmp_path / "again" / "run.json").read_text())["runs"][0]
    assert run["selection"]["partial"] and run["selection"]["narrowed_by"] == ["-m operator", "-k 'xnnpack_fp32 and relu-4d'"]
    records = [json.loads(line) for line in (tmp_path / "again" / "records.jsonl").read_text().splitlines()]
    tests = {r["test_id"] for r in records}
    assert any(op.startswith("aten_relu") for op in next(r for r in records if r["case"] == "relu-4d")["delegation"]["ops"])
    assert run["exit_status"] == 0 and run["tests"] == len(tests) >= 1 and run["duration_s"] > 0 and run["base_seed"] == 0
    assert run["machine"]["cores"] == os.cpu_count() and run["memory_budget"] == "sram=384KiB"
    assert run["etconform_commit"] and "unknown" not in run["etconform_commit"]
    assert run["versions"]["executorch"] and run["command"].startswith("python -m pytest -p no:cacheprovider")
    assert run["selection"]["paths"] == ["suites/xnnpack"]
    page = (tmp_path / "again" / "report.html").read_text()
    first_screen = page.split("<h2>Unexpected")[0].split("<h2>Models")[0]
    assert "PASS: 0 unexpected, 0 known failures" in first_screen and "Qualification: GO" in first_screen
    assert "a partial run (-m operator -k &#x27;xnnpack_fp32 and relu-4d&#x27;)" in first_screen
    assert "command: " in first_screen and "board not run: no device configured" in first_screen
    # The inputs are kept beside the outputs: enough to reproduce the case by hand.
    saved = list((tmp_path / "again" / "artifacts" / "xnnpack_fp32" / "relu-4d" / "inputs").glob("*/inputs.pt"))
    assert saved and isinstance(torch.load(saved[0])[0], torch.Tensor)


def test_records_without_run_json_say_the_run_is_unknown():
    built = report.build([_record("relu-4d", "tosa_int")])
    assert built["verdict"]["status"] == "PASS"
    assert built["verdict"]["caveats"] == ["no run.json: when, how and where these records were made is unknown"]


def _compare_failure(case, target, executor="tosa_ref"):
    finding = {"stage": "compare", "check": "vs_eager", "message": f"{case}: 7 steps > 3"}
    return _record(case, target, "mismatch", executor, stage="compare", message=finding["message"], findings=[finding],
                   checks=["vs_eager"] if target == "tosa_fp" else ["vs_eager", "vs_quantized"])


def test_one_tosa_lowering_fault_is_one_cause_naming_the_tosa_lowering():
    records = [_compare_failure("gelu-a", t) for t in ("tosa_fp", "tosa_int", "ethos_u55_128")]
    records += [_record("gelu-a", t, executor="quantized_eager") for t in ("tosa_int", "ethos_u55_128")]
    found = causes.group(records)
    assert len(found) == 1 and len(found[0]["cases"]) == 3
    assert causes.headline(found[0]).startswith("3 cases (gelu) fail at compare on ethos_u55_128, tosa_fp, tosa_int [tosa_ref]")
    assert found[0]["conclusion"].startswith("fails on tosa_ref for every TOSA target including tosa_fp")


def test_a_recipe_fault_is_blamed_on_quantization_not_the_backend():
    records = [_compare_failure("layer_norm-a", "tosa_int"), _compare_failure("layer_norm-a", "tosa_int", "quantized_eager")]
    assert causes.group(records)[0]["conclusion"].startswith("quantized eager misses too: the quantization recipe")


def test_known_failures_are_not_causes_and_the_verdict_counts_them_apart():
    known = _record("div-floor", "tosa_int", "xfail", stage="compare", expected="recipe")
    built = report.build([known, _compare_failure("gelu-a", "tosa_int")])
    assert built["verdict"]["counts"]["unexpected"] == 1 and built["verdict"]["counts"]["xfail"] == 1
    assert [c["cases"] for c in built["causes"]] == [[("gelu-a", "tosa_int")]]
    assert set(built["details"]) == {"div-floor@tosa_int", "gelu-a@tosa_int"}  # both expand to their numbers


def test_the_model_table_holds_the_estimate_to_a_memory_budget():
    vela = {"inference_time_ms": 20.0, "sram_memory_used": 1474.0, "dram_memory_used": 0.0,
            "off_chip_flash_memory_used": 3385.0, "system_config": "Ethos_U55_High_End_Embedded", "core_clock_mhz": 500.0}
    model = {"kind": "model", "metrics": {"cosine": 0.99, "sqnr_db": 20.0}, "tolerance": {"min_cosine": 0.95}}
    records = [_record("mobilenet_v2-224", "ethos_u55_128", **model),
               _record("mobilenet_v2-224", "ethos_u55_128", "info", "vela", estimate=vela, **model)]
    row = report.build(records, budget="sram=384KiB,flash=4MiB")["models"][0]
    cells = dict(zip(report.MODEL_COLUMNS, report.model_cells(row)))
    assert cells["NPU estimate"] == "20 ms (50/s), Ethos_U55_High_End_Embedded @ 500 MHz"
    assert cells["fits budget"] == "NO: sram 1474 KiB > 384 KiB"
    assert cells["agreement (threshold)"].startswith("cosine 0.99 (>= 0.95)")


@pytest.mark.parametrize("text, want", [("sram=384KiB", {"sram": 384}), ("flash=2MiB,dram=1024", {"flash": 2048, "dram": 1})])
def test_budgets_are_kept_in_kib(text, want):
    assert parse_budget(text) == want
    assert fits({"sram_memory_used": 100.0}, {"sram": 384})[0] is True


def test_vela_summary_names_its_clock(tmp_path):
    (tmp_path / "out_summary_x.csv").write_text(
        "system_config,accelerator_configuration,memory_mode,core_clock,inference_time,sram_memory_used\n"
        "Ethos_U85_SYS_DRAM_Mid,Ethos_U85_256,Dedicated_Sram_384KB,1000000000.0,0.002,10.5\n")
    summary = read_summary(tmp_path)
    assert summary["core_clock_mhz"] == 1000.0 and summary["memory_mode"] == "Dedicated_Sram_384KB"
    assert total_estimate([summary])["core_clock_mhz"] == 1000.0


def test_a_fault_in_add_shows_as_add_when_the_cases_test_layout_ops():
    def layout_case(case, extra_op):
        ops = {"aten_add_tensor": 1, extra_op: 1}
        r = _compare_failure(case, "tosa_int")
        r["delegation"] = {**r["delegation"], "ops": ops}
        return r

    records = [layout_case("permute-a", "aten_permute_copy_default"), layout_case("transpose-b", "aten_transpose_copy_int")]
    (cause,) = causes.group(records)
    assert cause["common_ops"] == ["aten_add_tensor"]
    assert causes.headline(cause).endswith("every failing graph contains aten_add_tensor")


def test_a_mismatch_with_compute_on_the_cpu_is_not_blamed_on_the_delegate():
    from etconform.judging import policy

    finding = {"stage": "compare", "check": "vs_quantized", "message": "off"}
    record = _record("gelu-a", "tosa_int", "mismatch", stage="compare", findings=[finding])
    assert policy.is_wrong_delegated(record)
    record["delegation"] = {**record["delegation"], "undelegated_ops": {"aten_gelu_default": 1}}
    assert not policy.is_wrong_delegated(record)


def test_the_selection_is_read_from_any_command_line_without_touching_the_disk():
    from etconform.plugin.runinfo import selection

    long_k = "ethos_u85_256 and (" + " or ".join(f"case_{i}-variant" for i in range(40)) + ")"
    found = selection(["suites/ethos_u", "-k", long_k, "-mmodel", "--deselect", "suites/x.py::t"], ["suites/ethos_u"])
    assert found["partial"] and found["paths"] == ["suites/ethos_u"]
    assert found["narrowed_by"][1:] == ["-m model", "--deselect", "suites/x.py::t"] and long_k in found["narrowed_by"][0]
    assert selection(["suites/ethos_u", "-n", "2"], ["suites/ethos_u"])["partial"] is False


def test_a_failure_known_on_another_target_says_an_expectation_may_be_missing():
    known = _record("gelu-a", "ethos_u55_128", "xfail", stage="compare", expected="recipe")
    (cause,) = causes.group([known, _compare_failure("gelu-a", "ethos_u85_256")])
    assert cause["known_elsewhere"] == ["ethos_u55_128"]
    assert "known failures on ethos_u55_128: an expectation may be missing here" in causes.headline(cause)


def test_the_first_screen_says_when_no_fvp_or_board_ran():
    records = [_record("add-a", "ethos_u55_128"), _record("add-a", "ethos_u55_128", "skip", "fvp", message="no FVP")]
    caveats = report.build(records)["verdict"]["caveats"]
    assert any(c.startswith("ethos_u55_128: no FVP or board ran, so what Vela compiled") for c in caveats)
    records[1] = _record("add-a", "ethos_u55_128", executor="fvp")
    assert not any("no FVP or board ran" in c for c in report.build(records)["verdict"]["caveats"])


def test_a_report_that_cannot_be_written_keeps_the_records_leaves_no_stale_report_and_fails_the_run(runs):
    base, done = runs
    results = base / "first"
    assert done.returncode == pytest.ExitCode.INTERNAL_ERROR, done.stdout[-2000:]
    assert "etconform: the report could not be written (TypeError: unsupported format string" in done.stdout
    assert f"python -m etconform report {results}" in done.stdout
    assert (results / "records.jsonl").read_text().strip() and not (results / "report.html").exists()
    assert "TypeError" in (results / "report_error.txt").read_text()


def test_lowerings_past_their_limit_are_one_cause_whichever_pass_each_stopped_in():
    def timeout(target, cpu, where, executors=("quantized_eager", "tosa_ref")):
        message = (f"StageTimeout: lower still running after 3600 s ({cpu} s of CPU): stopped in {where}"
                   " (ETCONFORM_STAGE_TIMEOUT=lower=SECONDS to change)")
        return [_record("smollm2_135m-text4", target, "fail", e, stage="lower", message=message) for e in executors]

    records = [*timeout("tosa_int", 1020, "RewriteMatmulPass"), *timeout("tosa_int16", 980, "DecomposeSumPass"),
               *timeout("ethos_u85_256", 1203, "RewriteConvPass", ("quantized_eager", "stream", "tosa_ref", "vela"))]
    (cause,) = causes.group(records)
    assert len(cause["cases"]) == 3 and cause["executors"] == ["quantized_eager", "stream", "tosa_ref", "vela"]
    assert cause["conclusion"].startswith("the lower stage ran past its time limit")
    other = _record("smollm2_135m-text4", "ethos_u55_128", "fail", stage="lower", message="KeyError: 'val'")
    assert len(causes.group([*records, other])) == 2  # a lowering that raised is a cause of its own
    stopped_outside = timeout("tosa_fp", 4, "X")[0]
    stopped_outside["message"] = stopped_outside["message"].replace(" in X", "")
    assert len(causes.group([*records, stopped_outside])) == 1  # no pass named: the same cause
    quantize = _record("smollm2_135m-text4", "tosa_int16", "fail", stage="quantize",
                       message="StageTimeout: quantize still running after 900 s (880 s of CPU): stopped")
    assert causes.group([quantize])[0]["conclusion"].startswith("the quantize stage ran past its time limit")


def test_an_executor_that_got_further_keeps_its_cause_apart_from_a_stage_before_execution():
    """The command stream fails its own Vela check while the TOSA reference model runs and mismatches:
    that case must not merge with cases where only the stream stopped at Vela."""
    stream_only = _record("add-a", "ethos_u55_128", "fail", "stream", stage="vela", message="Vela's package writes 1 output")
    both = [_record("mul-b", "ethos_u55_128", "fail", "stream", stage="vela", message="Vela's package writes 1 output"),
            _compare_failure("mul-b", "ethos_u55_128")]
    assert len(causes.group([stream_only, *both])) == 2
