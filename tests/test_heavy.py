"""Heavy tests (hours of lowering each) run only when asked, and then with the time they need."""

import subprocess
import sys
from pathlib import Path

import pytest

from etconform.plugin.catalog import model_cases
from etconform.plugin.suite import TEST_TIMEOUT, model_params
from etconform.targets import TARGETS

REPO = Path(__file__).resolve().parent.parent
SMOLLM2_U85 = "suites/ethos_u/test_models.py::test_model[smollm2_135m-text4-ethos_u85_256]"


def _collect(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_a_heavy_test_carries_its_marker_and_a_timeout_beyond_its_lowering():
    heavy = [c for c in model_cases() if c.heavy]
    assert heavy, "no heavy case left: this test and the mechanism can go"
    case = heavy[0]
    for p in model_params(TARGETS):
        target = p.values[1]
        if p.values[0] is not case:
            continue
        marks = {m.name: m.args for m in p.marks}
        measured = case.heavy.get(target.name, case.heavy.get(target.backend))
        if measured:
            assert "heavy" in marks and marks["timeout"][0] == 2 * measured + TEST_TIMEOUT
        else:
            assert "heavy" not in marks and "timeout" not in marks


@pytest.mark.parametrize("args, selected, left_out", [
    # tosa_fp lowers within the default limit, U55 a16w8 reaches Vela within it: not heavy
    (("suites/ethos_u/test_models.py", "-k", "smollm2"), ["tosa_fp", "ethos_u55_128_a16w8"], 5),
    (("suites/ethos_u/test_models.py", "-m", "heavy or smoke", "-k", "smollm2"), ["tosa_int", "tosa_int16", "ethos_u55_128",
                                                                  "ethos_u85_256", "ethos_u85_256_a16w8"], 0),
    ((SMOLLM2_U85,), ["ethos_u85_256"], 0),
    (("suites/ethos_u/test_models.py", "-n", "2", "-k", "smollm2"), None, 5),  # under xdist the workers collect: the controller says it
])
def test_heavy_tests_run_only_when_asked_and_the_summary_says_what_was_left(args, selected, left_out):
    done = _collect(*args)
    assert done.returncode == 0, done.stderr
    if selected is not None:
        assert sorted(line.rpartition("smollm2_135m-text4-")[2].rstrip("]") for line in done.stdout.splitlines()
                      if "::test_model[smollm2" in line) == sorted(selected)
    if left_out:
        assert f"{left_out} heavy tests not run (smollm2_135m-text4 on {left_out} targets)" in done.stdout
        assert "-m heavy" in done.stdout
    else:
        assert "heavy tests not run" not in done.stdout


def test_the_report_names_heavy_tests_a_run_left_out_until_a_merged_run_has_them():
    from etconform.analysis import report
    from tests.records import record as _record

    left = {"selection": {"heavy_not_run": ["smollm2_135m-text4-ethos_u55_128", "smollm2_135m-text4-ethos_u85_256"]}}
    records = [_record("add-a", "tosa_int")]
    caveats = report.build(records, [left])["verdict"]["caveats"]
    assert ("2 heavy tests not run (smollm2_135m-text4-ethos_u55_128, smollm2_135m-text4-ethos_u85_256): hours of "
            "lowering each; -m heavy runs them, `etconform merge` joins their results") in caveats
    records.append(_record("smollm2_135m-text4", "ethos_u85_256", kind="model"))
    caveats = report.build(records, [left, {"selection": {}}])["verdict"]["caveats"]
    assert any(c.startswith("1 heavy test not run (smollm2_135m-text4-ethos_u55_128)") for c in caveats)
