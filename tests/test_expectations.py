"""Expectations: validated at collection, strict xfail, unsupported checked, on real runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from etconform.catalog import operator_cases
from etconform.expectations import ExpectationError, for_case, validate

REPO = Path(__file__).resolve().parent.parent
CASES = operator_cases()


def _pytest(args, expectations_dir, timeout=600):
    env = {**os.environ, "ETCONFORM_EXPECTATIONS": str(expectations_dir), "PYTEST_ADDOPTS": ""}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env)


def test_a_broken_key_stops_collection_naming_it(tmp_path):
    (tmp_path / "ethos_u55_128.toml").write_text('[unsupported]\n"conv2d-no_such_case" = "typo"\n')
    proc = _pytest(["--collect-only", "-q", "suites/ethos_u"], tmp_path)
    assert proc.returncode != 0
    assert "'conv2d-no_such_case' matches no case or operator" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("text", "complaint"), [
    ('[skip]\n"relu" = "x"\n', "unknown sections"),
    ('[xfail.relu]\nreason = "no stage"\n', "needs stage"),
    ('[xfail.relu]\nstage = "lowering"\nreason = "bad stage name"\n', "needs stage"),
    ('[tolerance.relu]\nqtol = 2\n', "unknown tolerance keys"),
    ('[unsupported]\n"relu" = ""\n', "needs a reason"),
])
def test_malformed_entries_are_refused(tmp_path, text, complaint):
    (tmp_path / "tosa_int.toml").write_text(text)
    with pytest.raises((ExpectationError, ValueError), match=complaint):
        validate("tosa_int", CASES, tmp_path)


def test_a_key_names_a_case_or_all_cases_of_an_operator(tmp_path):
    (tmp_path / "tosa_int.toml").write_text('[tolerance.conv2d]\nqtol_steps = 2\n[tolerance."conv2d-3x3"]\nqtol_steps = 3\n')
    validate("tosa_int", CASES, tmp_path)
    by_id = {c.id: c for c in CASES}
    assert for_case("tosa_int", by_id["conv2d-3x3"], tmp_path).tolerance == {"qtol_steps": 3}
    assert for_case("tosa_int", by_id["conv2d-1x1_nobias"], tmp_path).tolerance == {"qtol_steps": 2}
    assert for_case("tosa_int", by_id["relu-4d"], tmp_path).tolerance == {}


def test_strict_xfail_and_checked_unsupported_on_a_real_run(tmp_path):
    (tmp_path / "xnnpack_fp32.toml").write_text(
        '[xfail."gelu-tanh_approx"]\nstage = "compare"\nreason = "erf GELU for tanh"\n'
        '[xfail."relu-4d"]\nstage = "lower"\nreason = "a stale entry: relu works"\n'
        '[unsupported]\n"add-4d_same" = "stale: add delegates"\n"softmax-dim1_4d" = "last dim only"\n'
    )
    results = tmp_path / "results"
    node = "suites/xnnpack/test_operators.py::test_operator[{}-xnnpack_fp32]"
    nodes = [node.format(c) for c in ("gelu-tanh_approx", "relu-4d", "add-4d_same", "softmax-dim1_4d")]
    proc = _pytest(["-q", *nodes, "--results-dir", str(results)], tmp_path)
    out = proc.stdout
    summary = out.strip().splitlines()[-1]
    assert all(part in summary for part in ("1 failed", "2 passed", "1 xfailed")), out[-3000:]
    assert "XPASS(strict): expected to fail at lower (a stale entry: relu works)" in out
    assert "unexpected pass, tighten suites/expectations/xnnpack_fp32.toml: add-4d_same" in out
    records = {r["case"]: r for r in map(json.loads, (results / "records.jsonl").read_text().splitlines())}
    assert records["gelu-tanh_approx"]["outcome"] == "xfail" and records["gelu-tanh_approx"]["stage"] == "compare"
    assert records["softmax-dim1_4d"]["outcome"] == "fallback"
    matrix = json.loads((results / "support_matrix.json").read_text())
    assert matrix["subjects"]["gelu"]["xnnpack_fp32"]["counts"] == {"xfail": 1}


def test_a_draft_from_records_is_a_valid_expectations_file(tmp_path):
    from etconform.expectations import draft

    records = [
        {"case": "relu-4d", "target": "tosa_int", "executor": "quantized_eager", "outcome": "mismatch", "stage": "compare", "message": 'off by "3" steps'},
        {"case": "relu-4d", "target": "tosa_int", "executor": "tosa_ref", "outcome": "fail", "stage": "run", "message": "TOSA_UNPREDICTABLE"},
        {"case": "reshape-flatten", "target": "tosa_int", "executor": "tosa_ref", "outcome": "fallback", "stage": None, "message": "on the CPU"},
        {"case": "add-4d_same", "target": "tosa_fp", "executor": "tosa_ref", "outcome": "fail", "stage": "lower", "message": "other target"},
    ]
    (tmp_path / "tosa_int.toml").write_text(draft(records, "tosa_int"))
    validate("tosa_int", CASES, tmp_path)
    by_id = {c.id: c for c in CASES}
    relu = for_case("tosa_int", by_id["relu-4d"], tmp_path)
    assert relu.xfail_stages == ("compare", "run") and relu.xfail_reason == 'off by "3" steps'
    assert for_case("tosa_int", by_id["reshape-flatten"], tmp_path).unsupported == "on the CPU"
    assert for_case("tosa_int", by_id["add-4d_same"], tmp_path) == for_case("tosa_int", by_id["sub-2d_same"], tmp_path)
