"""Crash containment: a native abort, a corrupt graph or a corrupt .pte fails one case."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from etconform.cases import Case, randn
from etconform.lowering.pipeline import lower
from etconform.stages import StageError
from etconform.targets import TARGETS
from executors.et_runtime import ExecuTorchRuntime
from executors.tosa_ref import run_tosa


@pytest.fixture(scope="module")
def tosa_graph(tmp_path_factory):
    """A real TOSA graph (a conv lowered for TOSA INT) and an input that fits it."""
    case = Case("selftest", "conv", lambda: torch.nn.Conv2d(2, 2, 1), lambda g: (randn(g, 1, 2, 4, 4),))
    module, inputs = case.build(0)
    lowered = lower(module, inputs, TARGETS["tosa_int"], tmp_path_factory.mktemp("tosa"))
    (delegate,) = lowered.delegates
    return delegate.tosa, [np.zeros((1, 2, 4, 4), dtype=np.int8)]


def test_the_reference_model_runs_the_graph(tosa_graph):
    tosa, inputs = tosa_graph
    (out,) = run_tosa(tosa, inputs)
    assert out.shape == (1, 2, 4, 4) and out.dtype == np.int8


def test_a_native_abort_becomes_a_run_failure_and_this_process_lives(tosa_graph):
    tosa, inputs = tosa_graph
    # verbosity="WARNING" makes tosa_reference_model abort the process (RECIPES.md).
    with pytest.raises(StageError) as err:
        run_tosa(tosa, inputs, verbosity="WARNING")
    assert err.value.stage.value == "run"
    assert "crashed with SIGABRT" in err.value.message


def test_a_corrupt_tosa_graph_fails_at_run(tosa_graph):
    tosa, inputs = tosa_graph
    with pytest.raises(StageError) as err:
        run_tosa(tosa[: len(tosa) // 3] + b"\xff" * 64, inputs)
    assert err.value.stage.value == "run"


def test_a_corrupt_pte_fails_at_load(tmp_path):
    case = Case("selftest", "relu", lambda: torch.nn.ReLU(), lambda g: (randn(g, 4),))
    module, inputs = case.build(0)
    lowered = lower(module, inputs, TARGETS["xnnpack_fp32"], tmp_path)
    corrupt = dataclasses.replace(lowered, pte=b"\x00" * 16 + lowered.pte[16:64])
    with pytest.raises(StageError) as err:
        ExecuTorchRuntime().run(corrupt, inputs)
    assert err.value.stage.value == "load"


@pytest.mark.parametrize("fault", ["segfault", "raise"])
def test_vela_crashing_or_raising_fails_the_case_at_vela_and_this_process_lives(tmp_path, monkeypatch, fault):
    """The real lowering for the U55, with Vela's entry point made to segfault (as Vela 5.1.0 does on
    amin over a rank-6 input) or to raise: Vela runs in a child, so the case fails at stage vela."""
    import os
    import signal

    from ethosu.vela import vela

    def broken(argv):
        if fault == "segfault":
            os.kill(os.getpid(), signal.SIGSEGV)
        raise ValueError("no such operator: the stand-in's words")

    monkeypatch.setattr(vela, "main", broken)
    case = Case("selftest", "conv", lambda: torch.nn.Conv2d(2, 2, 1), lambda g: (randn(g, 1, 2, 4, 4),))
    module, inputs = case.build(0)
    with pytest.raises(StageError) as err:
        lower(module, inputs, TARGETS["ethos_u55_128"], tmp_path)
    assert err.value.stage.value == "vela"
    expected = "Vela crashed with SIGSEGV" if fault == "segfault" else "ValueError: no such operator: the stand-in's words"
    assert expected in err.value.message


def test_a_worker_killed_by_a_native_crash_leaves_a_record_and_the_run_goes_on(tmp_path):
    """os.abort() stands for a dependency's native crash inside a test process."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "conftest.py").write_text('pytest_plugins = ["etconform.plugin.hooks"]\n')
    (tmp_path / "test_crashing.py").write_text(  # the crash comes at stage vela, as one in Vela's fork would if it were in-process
        "import os\nfrom pathlib import Path\nimport pytest\n"
        "from etconform.plugin.hooks import breadcrumb\nfrom etconform.stages import Stage, enter, follow, stage\n\n"
        "@pytest.mark.parametrize('x', ['relu-4d-xnnpack_fp32', 'add-4d_same-xnnpack_fp32'])\n"
        "def test_operator(x, request):\n"
        "    follow(breadcrumb(Path(request.config.getoption('--results-dir')), os.environ['PYTEST_XDIST_WORKER']),\n"
        "           request.node.nodeid)\n"
        "    with stage(Stage.LOWER):\n"
        "        enter('vela')\n"
        "        if x.startswith('relu'):\n            os.abort()\n"
    )
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "PYTEST_ADDOPTS": ""}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "1", "-q", "-p", "no:cacheprovider", str(tmp_path),
                           "--results-dir", str(results), "--rootdir", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout[-2000:]
    records = [json.loads(line) for line in (results / "records.jsonl").read_text().splitlines()]
    assert [(r["case"], r["executor"], r["outcome"], r["stage"]) for r in records] == [("relu-4d", "process", "fail", "vela")]
    assert "crashed (a native abort or segfault in a dependency) at vela" in records[0]["message"]


class _Worker:
    """Stands in for xdist's WorkerController: what the scheduler sends it, nothing run."""

    def __init__(self, name):
        self.gateway, self.sent, self.shutting_down = type("Gateway", (), {"id": name})(), [], False

    def send_runtest_some(self, indices):
        self.sent.extend(indices)

    def shutdown(self):
        self.shutting_down = True


def test_a_worker_started_in_place_of_a_crashed_one_gets_work_it_can_start():
    """xdist runs a test only once the worker knows its next one: a replacement sent a single one-test
    unit sits idle to the end of the run (it did, session 10, for 153 tests after Vela segfaulted)."""
    from etconform.plugin.grouping import make_scheduler

    ids = [f"suites/ethos_u/test_operators.py::test_operator[op-c{i}-ethos_u55_128]" for i in range(12)]
    config = type("Config", (), {"option": type("Option", (), {})(), "getvalue": lambda self, name: ["2*popen"]})()
    sched = make_scheduler(config, None)
    first, second = _Worker("gw0"), _Worker("gw1")
    for node in (first, second):
        sched.add_node(node)
        sched.add_node_collection(node, ids)
    sched.schedule()
    assert len(first.sent) == 2 and len(second.sent) == 2  # xdist's own start: two units each
    assert sched.remove_node(first) == ids[first.sent[0]]  # the crash: its test is reported, not rerun
    spare = _Worker("gw2")
    sched.add_node(spare)
    sched.add_node_collection(spare, ids)
    sched.schedule()
    assert len(spare.sent) >= 2, f"the replacement was sent {spare.sent}: it would wait for a next test forever"
    assert ids[first.sent[0]] not in [ids[i] for i in spare.sent + second.sent]
