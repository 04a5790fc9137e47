"""Bad configuration stops the run at start, naming the value and the file."""

import subprocess
import sys
from pathlib import Path

import pytest

from etconform.plugin.hooks import _check_configuration

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("env, says", [
    ({"ETCONFORM_DEVICE": "ssh://nobody@"}, "'ssh://nobody@': expected ssh://user@host[:port]"),
    ({"ETCONFORM_DEVICE": "ssh://u@h?pyhton=/usr/bin/python3"}, "unknown parameters ['pyhton']"),
    ({"ETCONFORM_DEVICES": "/nonexistent/devices.toml"}, "/nonexistent/devices.toml"),
    ({"ETCONFORM_FVP_TIMEOUT": "2m"}, "--fvp-timeout '2m'"),
])
def test_a_malformed_option_is_a_usage_error_naming_it(monkeypatch, env, says):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(pytest.UsageError, match=None) as caught:
        _check_configuration()
    assert says in str(caught.value)


@pytest.mark.parametrize("budget, baseline, says", [
    ("sram=lots", None, "--memory-budget: 'sram=lots': expected NAME=SIZE"),
    ("ram=1MiB", None, "NAME one of sram, dram, flash, on_chip_flash"),
    ("", "/nonexistent/run", "--baseline /nonexistent/run: no records.jsonl there"),
])
def test_a_bad_budget_or_baseline_is_a_usage_error(budget, baseline, says):
    with pytest.raises(pytest.UsageError) as caught:
        _check_configuration(budget, baseline)
    assert says in str(caught.value)


def test_a_devices_file_that_is_not_toml_names_the_file_and_line(monkeypatch, tmp_path):
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices.board]\nurl = "ssh://u@h"\nnot toml\n')
    monkeypatch.setenv("ETCONFORM_DEVICES", str(devices))
    with pytest.raises(pytest.UsageError) as caught:
        _check_configuration()
    assert f"{devices}: not valid TOML" in str(caught.value) and "line 3" in str(caught.value)


def test_the_run_stops_before_any_case(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "suites/xnnpack", "-k", "relu-4d",
         "--device", "ssh://nobody@", "--results-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "bad device configuration" in done.stderr and "ssh://nobody@" in done.stderr
    assert not (tmp_path / "records.jsonl").exists()
