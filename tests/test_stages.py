"""Stage attribution, on the real toolchain: each failure lands on the stage that raised it."""

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
