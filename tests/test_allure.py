"""An Allure report groups a run as the HTML report does: labels per test, the run's environment,
categories by stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_a_run_with_alluredir_labels_each_test_and_writes_environment_and_categories(tmp_path):
    (tmp_path / "xnnpack_fp32.toml").write_text(
        '[xfail."gelu-tanh_approx"]\nexecutors = ["et_runtime"]\nchecks = ["vs_eager"]\nmax = {max_abs_err = 0.001}\n'
        'reason = "erf GELU for tanh"\n')
    allure = tmp_path / "allure"
    env = {**os.environ, "ETCONFORM_EXPECTATIONS": str(tmp_path), "PYTEST_ADDOPTS": ""}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "suites/xnnpack/test_operators.py::test_operator[gelu-tanh_approx-xnnpack_fp32]",
                           "--results-dir", str(tmp_path / "results"), "--alluredir", str(allure)],
                          cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert "1 xfailed" in proc.stdout, proc.stdout[-2000:]
    (result,) = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    labels = {label["name"]: label["value"] for label in result["labels"]}
    assert {k: labels.get(k) for k in ("backend", "target", "operator", "family", "outcome", "stage", "suite")} == {
        "backend": "xnnpack", "target": "xnnpack_fp32", "operator": "gelu", "family": "activations",
        "outcome": "wrong_known", "stage": "compare", "suite": "xnnpack_fp32"}  # a delegated wrong answer, known
    assert labels["known_failure"] == "erf GELU for tanh"
    assert result["status"] == "skipped" and "known failure at compare: erf GELU for tanh" in result["statusDetails"]["message"]
    properties = (allure / "environment.properties").read_text()
    assert "executorch=1.5.1" in properties and "machine.cores=" in properties
    categories = json.loads((allure / "categories.json").read_text())
    assert [c["name"] for c in categories][:3] == [
        "bad case (a bug in the suite, not the backend)", "known failure that passed (tighten the expectations)",
        "lost coverage (verified lower than its baseline)"]
    import re

    known = next(c for c in categories if c["name"] == "known failure at compare")
    assert re.fullmatch(known["messageRegex"], result["statusDetails"]["message"])
    lower = next(c for c in categories if c["name"] == "failed at lower")
    assert re.fullmatch(lower["messageRegex"], "seed 3\net_runtime: fail@lower - StopIteration")
    assert not re.fullmatch(lower["messageRegex"], "seed 3\net_runtime: mismatch@compare - vs eager")
