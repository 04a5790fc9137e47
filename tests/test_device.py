"""The SSH device executor against a real OpenSSH server on loopback (this machine is the board)."""

import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from etconform.cases import Case, Lambda, randn
from etconform.targets import TARGETS
from executors.device import HOW, SSHDevice, load_devices, parse_url
from tests import sshd
from tests.conftest import by_executor

RUNNER = Path(__file__).parent / "standin" / "et_runner.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(sshd.SSHD).exists():
        pytest.skip("openssh-server is not installed: apt-get install openssh-server (.ci/run does)")
    server = sshd.loopback_server(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def device(server, monkeypatch):
    monkeypatch.setenv("ETCONFORM_DEVICE", server.url(sys.executable))
    return server


def _worker_folder() -> str:
    """The agent's folder name for this worker: gw0, gw1 under xdist, main without."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", os.environ.get("PYTEST_XDIST_WORKER", "main"))[:40]


def _case(variant="add"):
    # x + 1 is int8 end to end on XNNPACK (a lone relu would be delegated in float).
    return Case("selftest", variant, lambda: Lambda(lambda x: x + 1.0), lambda g: (randn(g, 1, 8),))


def test_urls_and_device_files_are_parsed_and_checked(tmp_path):
    d = parse_url("ssh://pi@board.local:2222?python=/opt/et/bin/python")
    assert (d.user, d.host, d.port, d.python) == ("pi", "board.local", 2222, "/opt/et/bin/python")
    assert d.targets == tuple(name for name, t in TARGETS.items() if t.backend == "xnnpack")  # every XNNPACK target
    assert d.targets[:2] == ("xnnpack_fp32", "xnnpack_int8")
    assert parse_url("ssh://pi@board").port == 22
    for bad in ("ssh://-oProxyCommand=evil@host", "ssh://pi@host;reboot", "http://pi@host", "ssh://host", "ssh://pi@h?shell=sh"):
        with pytest.raises(ValueError):
            parse_url(bad)
    (tmp_path / "devices.toml").write_text(
        '[devices.npu-board]\nurl = "ssh://root@imx93"\nrunner = ["/usr/bin/runner", "{program}"]\ntargets = ["ethos_u55_128"]\n'
    )
    (board,) = load_devices(tmp_path / "devices.toml")
    assert (board.name, board.runner, board.targets) == ("npu-board", ("/usr/bin/runner", "{program}"), ("ethos_u55_128",))
    # The remote command is fixed: nothing from a case or a path reaches the remote shell.
    assert board.ssh()[-2:][0] == "imx93" and board.ssh()[-3] == "--"
    assert "StrictHostKeyChecking=yes" in board.ssh() and "BatchMode=yes" in board.ssh()
    (tmp_path / "typo.toml").write_text('[devices.b]\nurl = "ssh://pi@b"\ntargets = ["xnnpack_int"]\n')
    with pytest.raises(ValueError, match="unknown targets \\['xnnpack_int'\\]"):
        load_devices(tmp_path / "typo.toml")


def test_without_a_device_the_skip_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("ETCONFORM_DEVICE", raising=False)
    monkeypatch.delenv("ETCONFORM_DEVICES", raising=False)
    assert SSHDevice().probe(TARGETS["xnnpack_fp32"]).reason == f"no device configured: {HOW}"


def test_a_case_runs_on_the_device_with_metrics_and_latency(device, run_one):
    records = by_executor(run_one(_case(), "xnnpack_int8"))
    rec = records["device"]
    assert rec["outcome"] == "pass", rec["message"]
    assert rec["metrics"]["max_err_qsteps"] == 0.0 and rec["latency"]["runs"] == 5 and rec["latency"]["median_ms"] > 0
    assert f"127.0.0.1:{device.port}" in rec["message"] and "executorch 1.5.1" in rec["message"]
    folder = Path(re.search(r"files in ([^;]+)", rec["message"]).group(1))
    # A folder of its own for each run: nothing an earlier run left can be read as this one's.
    assert folder.parent == device.folder / "device" / _worker_folder() and folder.name.startswith("run-")
    assert (folder / "program.pte").exists()


def test_nothing_from_a_case_reaches_a_shell(device, run_one, monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", f"gw0; touch {marker}; $(touch {marker})")
    rec = by_executor(run_one(_case(f"'; touch {marker} #"), "xnnpack_fp32"))["device"]
    assert rec["outcome"] == "pass", rec["message"]
    assert not marker.exists()
    assert list((device.folder / "device" / _worker_folder()).glob("run-*/program.pte"))


def test_a_runner_command_runs_the_program_on_the_device(server, run_one, monkeypatch, tmp_path):
    entry = (
        f'[devices.board]\nurl = "{server.url(sys.executable)}"\ntimeout = 60\n'
        f'runner = ["{sys.executable}", "{RUNNER}", "{{program}}", "{{inputs}}", "{{outputs}}", "--shape", "1x8"]\n'
    )
    (tmp_path / "devices.toml").write_text(entry)
    monkeypatch.setenv("ETCONFORM_DEVICES", str(tmp_path / "devices.toml"))
    monkeypatch.delenv("ETCONFORM_DEVICE", raising=False)
    rec = by_executor(run_one(_case(), "xnnpack_fp32"))["device"]
    assert rec["outcome"] == "pass", rec["message"]
    assert rec["metrics"]["max_abs_err"] == 0.0 and "on board" in rec["message"]


@pytest.mark.parametrize("write, said", [("none", "the runner wrote no output, expected ['out-0.bin']"),
                                         ("extra", "the runner wrote ['out-0.bin', 'out-1.bin'], expected ['out-0.bin']")])
def test_a_runner_that_writes_no_output_or_one_too_many_fails_at_run(write, said, server, run_one, monkeypatch, tmp_path):
    """A run before it left out-0.bin on the board: the faulty runner's run must not read it."""
    def board(name: str, *extra: str) -> Path:
        runner = [sys.executable, str(RUNNER), "{program}", "{inputs}", "{outputs}", "--shape", "1x8", *extra]
        (tmp_path / name).write_text(f'[devices.board]\nurl = "{server.url(sys.executable)}"\ntimeout = 60\n'
                                     f"runner = {json.dumps(runner)}\n")
        return tmp_path / name

    monkeypatch.delenv("ETCONFORM_DEVICE", raising=False)
    monkeypatch.setenv("ETCONFORM_DEVICES", str(board("good.toml")))
    assert by_executor(run_one(_case(), "xnnpack_fp32"))["device"]["outcome"] == "pass"
    monkeypatch.setenv("ETCONFORM_DEVICES", str(board("bad.toml", "--write", write)))
    rec = by_executor(run_one(_case(), "xnnpack_fp32"))["device"]
    assert (rec["outcome"], rec["stage"]) == ("fail", "run") and said in rec["message"], rec["message"]


def test_a_runner_that_takes_too_long_fails_at_run_naming_the_device(server, run_one, monkeypatch, tmp_path):
    (tmp_path / "devices.toml").write_text(
        f'[devices.slow]\nurl = "{server.url(sys.executable)}"\ntimeout = 2\n'
        f'runner = ["{sys.executable}", "{RUNNER}", "{{program}}", "{{inputs}}", "{{outputs}}", "--shape", "1x8", "--sleep", "600"]\n'
    )
    monkeypatch.setenv("ETCONFORM_DEVICES", str(tmp_path / "devices.toml"))
    monkeypatch.delenv("ETCONFORM_DEVICE", raising=False)
    started = time.monotonic()
    rec = by_executor(run_one(_case(), "xnnpack_fp32"))["device"]
    assert time.monotonic() - started < 300  # the runner sleeps 600 s: it was cut at its 2 s timeout, whatever the load
    assert (rec["outcome"], rec["stage"]) == ("fail", "run") and "on slow" in rec["message"] and "timed out" in rec["message"]


def test_an_unknown_host_key_is_refused_with_what_to_do(server, monkeypatch, tmp_path):
    (tmp_path / "empty").write_text("")
    url = server.url(sys.executable).replace(str(server.known_hosts), str(tmp_path / "empty"))
    monkeypatch.setenv("ETCONFORM_DEVICE", url)
    reason = SSHDevice().probe(TARGETS["xnnpack_fp32"]).reason
    assert "Host key verification failed" in reason and f"ssh-keyscan -p {server.port} 127.0.0.1" in reason


def test_a_stopped_server_is_a_quick_skip_or_failure_naming_the_host(device, run_one):
    assert by_executor(run_one(_case(), "xnnpack_fp32"))["device"]["outcome"] == "pass"
    device.stop()
    try:
        started = time.monotonic()
        first = by_executor(run_one(_case(), "xnnpack_fp32"))["device"]  # known reachable: the run finds out
        second = by_executor(run_one(_case(), "xnnpack_fp32"))["device"]  # probed again: a skip
        assert time.monotonic() - started < 150  # a hang would be the 300 s run timeout, twice
    finally:
        device.start()
    where = f"ssh://{device.user}@127.0.0.1:{device.port} unreachable"
    assert (first["outcome"], first["stage"]) == ("fail", "run") and where in first["message"]
    assert second["outcome"] == "skip" and where in second["message"]
