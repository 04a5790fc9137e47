"""The formats beside a8w8 (a16w8, dynamic int8, 8da4w, fp16), on the real toolchain.

Each rule that decides their outcomes is fed a deliberately wrong result through the real
runner: the executor's outputs are moved after it ran, nothing of ExecuTorch is mocked.
"""

import pytest
import torch
from torch.utils import _pytree as pytree

from etconform.cases import Case, randn
from executors import EXECUTORS
from tests.conftest import by_executor, unannotated

CONV = Case("selftest", "conv", lambda: torch.nn.Conv2d(3, 8, 3), lambda g: (randn(g, 1, 3, 16, 16),))
LINEAR = Case("selftest", "linear", lambda: torch.nn.Linear(64, 32), lambda g: (randn(g, 4, 64),))
RELU_LINEAR = Case("selftest", "relu_linear", lambda: torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Linear(64, 32)),
                   lambda g: (randn(g, 4, 64),))


def _moved(monkeypatch, executor: str, by) -> None:
    """Each output of `executor` moved by by(lowered, output) after it ran (the real run)."""
    runner = EXECUTORS[executor]
    real = type(runner).run

    def run(self, lowered, inputs, timing=(1, 5)):
        result = real(self, lowered, inputs, timing)
        result.outputs = pytree.tree_map(lambda out: out + by(lowered, out), result.outputs)
        return result

    monkeypatch.setattr(type(runner), "run", run)


def test_a16w8_counts_the_lowering_in_int16_steps_and_eager_in_the_weights_precision(run_one):
    records = by_executor(run_one(CONV, "tosa_int16"))
    ref = records["tosa_ref"]
    assert ref["outcome"] == "pass", ref["message"]
    step, eager_step = ref["tolerance"]["output_scale"], ref["tolerance"]["eager_step"]
    assert eager_step == pytest.approx(256 * step)  # int16 output, int8 weights: 2^(16 - 8)
    assert ref["metrics"]["max_err_qsteps"] <= 1.0


@pytest.mark.parametrize(("steps", "failing"), [(2, {"vs_quantized"}), (1024, {"vs_quantized", "vs_eager"})])
def test_a16w8_an_offset_fails_the_check_whose_steps_it_exceeds(run_one, monkeypatch, steps, failing):
    """Two int16 steps are nothing against eager (1/128 of a weight step) but fail the lowering check;
    four weight steps (1024 int16 steps) fail both."""
    _moved(monkeypatch, "tosa_ref", lambda lowered, out: steps * lowered.output_scales[0])
    ref = by_executor(run_one(CONV, "tosa_int16"))["tosa_ref"]
    assert (ref["outcome"], ref["stage"]) == ("mismatch", "compare")
    assert {f["check"] for f in ref["findings"]} == failing, ref["message"]
    assert "vs quantized eager: " in ref["message"] and " steps > 1 at " in ref["message"]


def test_dynamic_int8_a_linear_left_in_float_fails_at_partition_but_a_relu_is_float_by_design(run_one):
    clean = by_executor(run_one(RELU_LINEAR, "xnnpack_int8_dynamic"))["et_runtime"]
    assert clean["outcome"] == "pass", clean["message"]
    assert clean["delegation"]["float_ops"] == {}  # the ReLU is fp32 by the recipe's design
    broken = by_executor(run_one(RELU_LINEAR, unannotated("xnnpack_int8_dynamic")))["et_runtime"]
    assert (broken["outcome"], broken["stage"]) == ("fail", "partition")
    assert "delegated in float on an integer target, not in the expectations: aten.linear.default" in broken["message"]


def test_8da4w_clean_is_within_its_int4_floors(run_one):
    runtime = by_executor(run_one(LINEAR, "xnnpack_8da4w"))["et_runtime"]
    assert runtime["outcome"] == "pass", runtime["message"]
    assert runtime["metrics"]["sqnr_db_vs_quantized"] >= 40  # the same int4 weights and dynamic grid
    assert 16 <= runtime["metrics"]["sqnr_db"] <= 30  # int4 weights against eager: what the floor was set from


@pytest.mark.parametrize(("share", "failing"), [(0.03, {"vs_quantized"}), (0.2, {"vs_quantized", "vs_eager"})])
def test_8da4w_a_runtime_off_its_int4_reference_fails_on_sqnr(run_one, monkeypatch, share, failing):
    """3 % of the output's RMS (about 30 dB) hides inside int4's own error against eager but not
    against 8da4w eager; 20 % (about 14 dB) fails both."""
    _moved(monkeypatch, "et_runtime", lambda lowered, out: share * out.pow(2).mean().sqrt() * torch.sign(out))
    moved = by_executor(run_one(LINEAR, "xnnpack_8da4w"))["et_runtime"]
    assert (moved["outcome"], moved["stage"]) == ("mismatch", "compare")
    assert {f["check"] for f in moved["findings"]} == failing, moved["message"]
    assert "vs quantized eager: SQNR" in moved["message"] and "< 40" in moved["message"]


def test_fp16_is_held_to_eager_on_fp16_inputs_and_to_fp16_eager(run_one, monkeypatch):
    records = by_executor(run_one(CONV, "xnnpack_fp16"))
    runtime = records["et_runtime"]
    assert runtime["outcome"] == "pass", runtime["message"]
    assert set(runtime["checks"]) == {"vs_eager", "vs_quantized"}
    assert runtime["tolerance"]["atol"] == 2.0**-10
    # four fp16 roundoffs of each value: a kernel that loses two bits
    _moved(monkeypatch, "et_runtime", lambda lowered, out: out * 4 * 2.0**-11)
    moved = by_executor(run_one(CONV, "xnnpack_fp16"))["et_runtime"]
    assert (moved["outcome"], moved["stage"]) == ("mismatch", "compare")
    assert {f["check"] for f in moved["findings"]} == {"vs_eager", "vs_quantized"}
    assert "vs eager on float16 inputs" in moved["message"] and "vs float16 eager" in moved["message"]


FP16_MODEL = Case("selftest", "fp16_model", lambda: torch.nn.Sequential(
    torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 14 * 14, 10)),
    lambda g: (randn(g, 1, 3, 16, 16),), kind="model", samples=2)


def test_an_fp16_model_is_held_to_eager_and_to_fp16_eager_at_the_measured_fp16_gates(run_one, monkeypatch):
    runtime = by_executor(run_one(FP16_MODEL, "xnnpack_fp16"))["et_runtime"]
    assert runtime["outcome"] == "pass", runtime["message"]
    assert set(runtime["checks"]) >= {"vs_eager", "vs_quantized"}
    # 3 % of each logit: 30.5 dB, under the 35.6 dB the measured fp16 models allow
    _moved(monkeypatch, "et_runtime", lambda lowered, out: out * 0.03)
    moved = by_executor(run_one(FP16_MODEL, "xnnpack_fp16"))["et_runtime"]
    assert (moved["outcome"], moved["stage"]) == ("mismatch", "compare")
    assert {f["check"] for f in moved["findings"]} == {"vs_eager", "vs_quantized"}
    assert "vs eager: SQNR 30.5 dB < 35.6" in moved["message"], moved["message"]
