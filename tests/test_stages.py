"""Stage attribution, on the real toolchain: each failure lands on the stage that raised it."""

import pytest
import torch

from etconform.cases import Case, Lambda, randn
from etconform.targets import TARGETS, Target, ethos_u
from tests.conftest import by_executor


def _case(fn, *shapes, variant="v"):
    return Case("selftest", variant, lambda: Lambda(fn), lambda g: tuple(randn(g, *s) for s in shapes))


def test_data_dependent_control_flow_fails_at_export(run_one):
    def branchy(x):
        return x * 2 if x.sum() > 0 else x - 1  # export cannot trace a data-dependent branch

    run = run_one(_case(branchy, (4,)), "xnnpack_fp32")
    record, device = run.records  # the device executor, absent here, is a skip
    assert (record["outcome"], record["stage"], record["executor"]) == ("fail", "export", "et_runtime")
    assert (device["executor"], device["outcome"]) == ("device", "skip") and "--device" in device["message"]
    assert "data" in record["message"].lower() or "guard" in record["message"].lower()


def test_a_case_eager_pytorch_cannot_run_is_a_bad_case(run_one):
    run = run_one(_case(lambda x, y: x @ y, (2, 3), (2, 3)), "ethos_u55_128")
    (record,) = run.records
    assert (record["outcome"], record["stage"], record["executor"]) == ("error", "case", "eager")
    assert "bad case" in record["message"] and "RuntimeError" in record["message"]


def test_xnnpack_fp32_compares_the_runtime_with_eager(run_one):
    run = run_one(_case(lambda x: torch.relu(x) + 1, (2, 8)), "xnnpack_fp32")
    record = by_executor(run)["et_runtime"]
    assert record["outcome"] == "pass"
    assert record["metrics"]["max_abs_err"] <= 1e-6 and record["metrics"]["cosine"] > 0.999999
    assert record["delegation"]["partitions"] == 1 and record["latency"]["runs"] == 5


def test_ethos_u_runs_the_vela_compiled_tosa_and_keeps_vela_estimate(run_one):
    case = Case("selftest", "conv", lambda: torch.nn.Conv2d(3, 4, 3), lambda g: (randn(g, 1, 3, 8, 8),))
    records = by_executor(run_one(case, "ethos_u85_256"))
    tosa = records["tosa_ref"]
    assert tosa["outcome"] == "pass", tosa["message"]
    assert tosa["metrics"]["max_err_qsteps"] <= 1 and tosa["tolerance"]["output_scale"] > 0
    assert tosa["delegation"]["partitions"] == 1 and tosa["delegation"]["undelegated_ops"] == {}
    vela = records["vela"]
    assert vela["outcome"] == "info" and vela["estimate"]["inference_time_ms"] > 0
    conv_macs = 4 * 6 * 6 * 27  # out channels x out pixels x (3x3x3); Vela counts a little more
    assert conv_macs <= vela["estimate"]["nn_macs"] <= 1.1 * conv_macs
    assert vela["estimate"]["npu_operators"] >= 1 and vela["estimate"]["cpu_operators"] == 0
    assert records["fvp"]["outcome"] == "skip" and "FVP_Corstone_SSE-320" in records["fvp"]["message"]


def test_a_vela_failure_is_attributed_to_vela(run_one):
    good = TARGETS["ethos_u55_128"]
    bad_flags = ethos_u("ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram", ("--no-such-vela-flag",))
    target = Target("ethos_u55_badflag", "ethos_u", True, bad_flags, good.executors, good.ethos_u_config)
    records = by_executor(run_one(_case(lambda x: x + x, (1, 4)), target))
    assert (records["tosa_ref"]["outcome"], records["tosa_ref"]["stage"]) == ("fail", "vela")
    assert records["fvp"]["outcome"] == "skip"


def test_a_program_the_runtime_cannot_load_fails_at_load_quoting_the_runtime_log(run_one):
    # The host runtime has no avg_pool3d kernel; the runtime says so on fd 2, not in the exception.
    case = _case(lambda x: torch.nn.functional.avg_pool3d(x, 2), (1, 2, 4, 4, 4))
    record = by_executor(run_one(case, "xnnpack_fp32"))["et_runtime"]
    assert (record["outcome"], record["stage"]) == ("fail", "load")
    assert "runtime log: Missing operator" in record["message"] and "avg_pool3d" in record["message"]


def test_a_stage_past_its_timeout_fails_at_that_stage_with_the_time(monkeypatch):
    import time

    from etconform.stages import Stage, StageError, stage

    monkeypatch.setenv("ETCONFORM_STAGE_TIMEOUT", "lower=0.3")
    t0 = time.monotonic()
    with pytest.raises(StageError) as caught:
        with stage(Stage.LOWER):
            try:
                while True:
                    time.sleep(0.01)
            except Exception:  # noqa: BLE001 - the system under test may swallow Exceptions: not this one
                pass
    assert caught.value.stage is Stage.LOWER and time.monotonic() - t0 < 5
    assert "lower still running after 0.3 s (" in caught.value.message and ": stopped (" in caught.value.message  # in no pass
    assert _cpu_seconds(caught.value.message) < 0.1  # it slept: the CPU it had says how far it could get


def test_a_stage_that_runs_out_of_time_in_a_graph_pass_names_the_pass(monkeypatch):
    """A lowering that outlasts its limit is mostly one pass repeating (SmolLM2 on the Arm integer
    targets): the message names the innermost pass that was running, not the frame of the interpreter."""
    import time

    from torch.fx.passes.infra.pass_base import PassBase

    from etconform.stages import Stage, StageError, stage

    class SpinningPass(PassBase):
        def call(self, graph_module):  # noqa: ANN001, ANN201
            while True:
                sorted(range(1000))

    class OuterPass(PassBase):
        def call(self, graph_module):  # noqa: ANN001, ANN201
            return SpinningPass()(graph_module)

    monkeypatch.setenv("ETCONFORM_STAGE_TIMEOUT", "lower=0.5")
    t0 = time.monotonic()
    with pytest.raises(StageError) as caught, stage(Stage.LOWER):
        OuterPass()(torch.fx.symbolic_trace(torch.nn.ReLU()))
    assert time.monotonic() - t0 < 5
    assert "lower still running after 0.5 s (" in caught.value.message and ": stopped in SpinningPass (" in caught.value.message
    assert 0 < _cpu_seconds(caught.value.message) <= 0.6  # it spun on one thread, sharing the cores


def _cpu_seconds(message: str) -> float:
    import re

    return float(re.search(r"\(([\d.]+) s of CPU\)", message).group(1))


def test_a_stage_timeout_keeps_an_outer_alarm(monkeypatch):
    """pytest-timeout's own alarm survives a stage and still fires when it is due first."""
    import signal
    import time

    from etconform.stages import Stage, stage

    fired = []
    monkeypatch.setenv("ETCONFORM_STAGE_TIMEOUT", "export=30")
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(time.monotonic()))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with stage(Stage.EXPORT):
            time.sleep(0.1)
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0.2 < remaining < 0.45
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.monotonic()
        with stage(Stage.EXPORT):
            while not fired and time.monotonic() - t0 < 3:
                time.sleep(0.01)
        assert fired and fired[0] - t0 < 1.0  # the outer alarm, not the stage's 30 s
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@pytest.mark.parametrize("text", ["lower=abc", "lowr=5", "lower=-1"])
def test_a_malformed_stage_timeout_is_refused(text):
    from etconform.stages import parse_timeouts

    with pytest.raises(ValueError, match=text.split("=")[0]):
        parse_timeouts(text)


def test_a_lowering_past_its_timeout_is_a_failure_at_lower_in_the_record(run_one, monkeypatch):
    monkeypatch.setenv("ETCONFORM_STAGE_TIMEOUT", "lower=0.05")
    case = Case("selftest", "slow_lower", lambda: torch.nn.Conv2d(3, 8, 3), lambda g: (randn(g, 1, 3, 16, 16),))
    record = by_executor(run_one(case, "tosa_fp"))["tosa_ref"]
    assert (record["outcome"], record["stage"]) == ("fail", "lower")
    assert "StageTimeout: lower still running after 0.05 s" in record["message"]


def test_a_heavy_case_lowers_under_its_own_measured_limit_on_its_backends_only(run_one, monkeypatch):
    """The limit a heavy case declares reaches the real lowering: declared at 0.025 s for its backend,
    it stops there (0.05 s); a target named has its own; another backend keeps the default; the
    user's setting stays above both."""
    from etconform.stages import allowing, timeouts

    monkeypatch.delenv("ETCONFORM_STAGE_TIMEOUT", raising=False)
    case = Case("selftest", "heavy", lambda: torch.nn.Conv2d(3, 8, 3), lambda g: (randn(g, 1, 3, 16, 16),),
                heavy={"tosa": 0.025, "tosa_int16": 5.0})
    record = by_executor(run_one(case, "tosa_fp"))["tosa_ref"]
    assert (record["outcome"], record["stage"]) == ("fail", "lower")
    assert "lower still running after 0.05 s" in record["message"]
    assert case.allowance(TARGETS["xnnpack_fp32"]) == {} and case.allowance(TARGETS["tosa_int16"]) == {"lower": 10.0}
    with allowing(case.allowance(TARGETS["tosa_int"])):
        assert timeouts()["lower"] == 0.05
        monkeypatch.setenv("ETCONFORM_STAGE_TIMEOUT", "lower=9")
        assert timeouts()["lower"] == 9
    monkeypatch.delenv("ETCONFORM_STAGE_TIMEOUT")
    assert timeouts()["lower"] == 3600
