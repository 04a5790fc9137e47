"""Tolerance math and metrics: each assertion checks a number worked out by hand."""

import math

import pytest
import torch

from etconform.judging import tolerances
from etconform.judging.compare import (
    SQNR_CAP_DB,
    Finding,
    Verdict,
    compare_float,
    compare_quantized,
    cross_check,
    metrics,
)


def _checks(verdict: Verdict) -> list[str]:
    return [f.check for f in verdict.findings]


def test_verdict_is_ok_without_findings_and_joins_their_messages():
    verdict = Verdict({}, {}, checks=["vs_eager"])
    assert verdict.ok and verdict.message == ""
    verdict.findings += [Finding("vs_eager", "a"), Finding("vs_quantized", "b")]
    assert not verdict.ok and verdict.message == "a; b"


def test_exact_match_reports_capped_sqnr_and_unit_cosine():
    x = torch.randn(10)
    m = metrics([x], [x.clone()])
    assert m == {"max_abs_err": 0.0, "mean_abs_err": 0.0, "sqnr_db": SQNR_CAP_DB, "cosine": 1.0, "nonfinite_mismatches": 0}


def test_sqnr_of_a_known_error():
    ref = torch.ones(100)
    m = metrics([ref + 0.1], [ref])  # signal 100, noise 100 * 0.01 = 1 -> 20 dB
    assert m["sqnr_db"] == pytest.approx(20.0, abs=1e-3)
    assert m["max_abs_err"] == pytest.approx(0.1, rel=1e-5)


def test_cosine_of_opposite_vectors_is_minus_one():
    x = torch.tensor([1.0, 2.0, 3.0])
    assert metrics([-x], [x])["cosine"] == pytest.approx(-1.0)


def test_agreeing_nan_and_infinities_are_not_mismatches():
    ref = torch.tensor([math.nan, math.inf, -math.inf, 2.0])
    m = metrics([ref.clone()], [ref])
    assert (m["nonfinite_mismatches"], m["sqnr_db"], m["cosine"]) == (0, SQNR_CAP_DB, 1.0)


def test_float_bound_shrinks_atol_with_a_small_output_and_never_grows_it():
    tol = tolerances.resolve({"atol": 0.01, "rtol": 0.1})
    # max|ref| = 10: the atol part stays 0.01 (a large output loosens nothing); rtol part 0.1 * |ref|.
    ref = torch.tensor([10.0, 0.0])
    assert compare_float(torch.tensor([10.0, 0.0099]), ref, tol).ok
    bad = compare_float(torch.tensor([10.0, 0.011]), ref, tol)  # 0.011 > 0.01 at the zero
    assert _checks(bad) == ["vs_eager"] and "output 0[1]" in bad.message and "got 0.011" in bad.message
    # max|ref| = 0.5: the atol part shrinks to 0.005.
    small = torch.tensor([0.5, 0.0])
    assert compare_float(torch.tensor([0.5, 0.0049]), small, tol).ok
    assert not compare_float(torch.tensor([0.5, 0.0051]), small, tol).ok


def test_an_erf_gelu_for_a_tanh_gelu_fails_the_fp32_tolerance():
    # XNNPACK's fault (4.7e-4 on outputs up to ~5): a bound growing with the magnitude would hide it.
    x = torch.linspace(-5, 5, 1000)
    tanh_gelu = torch.nn.functional.gelu(x, approximate="tanh")
    verdict = compare_float(torch.nn.functional.gelu(x), tanh_gelu, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"]


def test_an_all_zero_output_allows_only_the_absolute_floor():
    tol = tolerances.resolve()
    assert compare_float(torch.full((4,), 5e-8), torch.zeros(4), tol).ok  # denormal-scale noise
    assert not compare_float(torch.full((4,), 1e-6), torch.zeros(4), tol).ok  # 1e-6 > atol_floor 1e-7


def test_nan_agrees_with_nan_only():
    tol = tolerances.resolve()
    nan = float("nan")
    assert compare_float(torch.tensor([nan, 1.0]), torch.tensor([nan, 1.0]), tol).ok
    assert not compare_float(torch.tensor([0.0, 1.0]), torch.tensor([nan, 1.0]), tol).ok
    assert compare_float(torch.tensor([math.inf]), torch.tensor([math.inf]), tol).ok
    assert not compare_float(torch.tensor([-math.inf]), torch.tensor([math.inf]), tol).ok
    assert not compare_float(torch.tensor([nan]), torch.tensor([math.inf]), tol).ok


def test_shape_mismatch_is_a_failed_comparison():
    verdict = compare_float(torch.zeros(2, 3), torch.zeros(3, 2), tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"] and "shape (2, 3), expected (3, 2)" in verdict.message


def test_integer_outputs_are_exact_on_float_targets():
    ref = torch.tensor([1000000, 7])
    verdict = compare_float(torch.tensor([1000001, 7]), ref, tolerances.resolve())  # 1 <= 1e-4 * 1e6 if it were float
    assert not verdict.ok and "exact" in verdict.message and "got 1e+06" in verdict.message
    assert compare_float(ref.clone(), ref, tolerances.resolve()).ok


# -- what backs the float tolerance (tolerances.py quotes these) ------------------------


def _softmax_logits() -> torch.Tensor:
    return torch.randn(2, 1000, generator=torch.Generator().manual_seed(0))


def test_bf16_softmax_over_1000_classes_fails_the_fp32_tolerance():
    x = _softmax_logits()
    verdict = compare_float(torch.softmax(x.bfloat16(), -1).float(), torch.softmax(x, -1), tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"]
    assert verdict.metrics["max_abs_err"] > 1e-5  # values ~1e-3: an absolute 1e-4 would have passed it


def test_softmax_computed_in_float64_passes():
    x = _softmax_logits()
    assert compare_float(torch.softmax(x.double(), -1).float(), torch.softmax(x, -1), tolerances.resolve()).ok


def test_a_matmul_summed_in_another_order_passes():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(64, 64, generator=g), torch.randn(64, 64, generator=g)
    verdict = compare_float((a.double() @ b.double()).float(), a @ b, tolerances.resolve())
    assert verdict.ok and 0 < verdict.metrics["max_abs_err"] < 1e-4


def test_conv_sums_in_fp16_fail():
    g = torch.Generator().manual_seed(2)
    patches, weights = torch.randn(196, 576, generator=g), torch.randn(576, 8, generator=g)  # 3x3x64 conv as a matmul
    verdict = compare_float((patches.half() @ weights.half()).float(), patches @ weights, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"] and "atol 0.0001*min(max|ref|, 1)" in verdict.message


# -- quantized targets ----------------------------------------------------------------


def test_quantized_bounds_are_in_output_steps():
    scale = 0.5
    tol = tolerances.resolve({"qtol_steps": 1.0, "quant_error_steps": 2.0})
    eager = torch.tensor([0.0, 1.0])
    qref = torch.tensor([0.5, 1.0])  # the quantized reference is 1 step off eager
    one_step = torch.tensor([1.0, 1.0])  # 1 step from qref, 2 steps from eager
    verdict = compare_quantized(one_step, qref, eager, [scale], tol)
    assert verdict.ok and verdict.checks == ["vs_eager", "vs_quantized"]
    assert verdict.metrics["max_err_qsteps"] == 1.0
    assert verdict.metrics["max_err_qsteps_vs_eager"] == 2.0 and verdict.metrics["max_err_qsteps_vs_rounded"] == 2.0
    assert verdict.tolerance["float_qtol_steps"] == 3.0
    two_steps = torch.tensor([1.5, 1.0])
    verdict = compare_quantized(two_steps, qref, eager, [scale], tol)
    assert _checks(verdict) == ["vs_quantized"] and "vs quantized eager: 2 steps > 1" in verdict.message


def test_float_bound_catches_a_drifting_quantized_reference():
    # The lowering matches quantized eager exactly, but both are 4 steps off eager.
    eager, drifted = torch.zeros(3), torch.full((3,), 2.0)
    verdict = compare_quantized(drifted, drifted, eager, [0.5], tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"] and verdict.metrics["max_err_qsteps"] == 0.0
    assert "vs eager: 4 steps > 3" in verdict.message


def test_eager_on_rounded_inputs_is_the_reference_elementwise():
    # eager(rounded inputs) moved by 5 steps: an output 6 steps off eager is 1 step off it.
    eager, rounded, actual = torch.zeros(2), torch.tensor([2.5, 0.0]), torch.tensor([3.0, 0.0])
    verdict = compare_quantized(actual, None, eager, [0.5], tolerances.resolve(), rounded)
    assert verdict.ok and verdict.checks == ["vs_eager"]
    assert verdict.metrics["max_err_qsteps_vs_eager"] == 6.0
    assert verdict.metrics["input_rounding_qsteps"] == 5.0
    assert verdict.metrics["max_err_qsteps_vs_rounded"] == 1.0
    # The same rounding elsewhere in the tensor explains nothing here: elementwise.
    verdict = compare_quantized(torch.tensor([0.0, 3.0]), None, eager, [0.5], tolerances.resolve(), rounded)
    assert not verdict.ok and verdict.metrics["max_err_qsteps_vs_rounded"] == 6.0
    assert "vs eager on rounded inputs: 6 steps > 3 at output 0[1]" in verdict.message


def test_bias_is_not_gated_on_a_few_elements():
    # Four elements each one step high: a mean of 1 step is one element's error, not a bias.
    qref = torch.zeros(4)
    verdict = compare_quantized(qref + 0.5, qref, qref, [0.5], tolerances.resolve())
    assert verdict.ok and verdict.metrics["mean_err_qsteps"] == 1.0 and verdict.metrics["mean_err_qsteps_vs_rounded"] == 1.0


def test_a_mean_within_the_bias_bound_passes():
    # 1000 elements, a quarter of them one step low: mean -0.25 <= 0.3.
    qref = torch.zeros(1000)
    actual = qref.clone()
    actual[::4] = -0.5
    verdict = compare_quantized(actual, qref, qref, [0.5], tolerances.resolve())
    assert verdict.ok and verdict.metrics["mean_err_qsteps"] == -0.25
    assert verdict.tolerance["max_bias_qsteps"] == 0.3 and verdict.tolerance["bias_min_elements"] == 64


def test_unquantized_output_falls_back_to_the_float_tolerance():
    verdict = compare_quantized(torch.ones(2), torch.ones(2), torch.ones(2), [None], tolerances.resolve())
    assert verdict.ok and "float tolerance used" in verdict.notes[0] and verdict.metrics["matches_quantized"] is True


def test_overrides_apply_in_order_and_unknown_keys_are_refused():
    tol = tolerances.resolve({"qtol_steps": 2}, {"qtol_steps": 3, "atol": 0.5})
    assert (tol.qtol_steps, tol.atol, tol.float_qtol_steps) == (3, 0.5, 5.0)
    with pytest.raises(ValueError, match="qtol"):
        tolerances.resolve({"qtol": 1})


def test_an_unquantized_output_is_compared_with_eager_on_the_same_rounded_inputs():
    # x > 0.26 on an input rounded to 0.25 is False: the backend is right, eager on x is not comparable.
    eager, rounded, actual = torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([0.0])
    verdict = compare_quantized(actual, None, eager, [None], tolerances.resolve(), rounded)
    assert verdict.ok and verdict.notes == ["output not quantized: float tolerance used"]
    verdict = compare_quantized(torch.tensor([1.0]), None, eager, [None], tolerances.resolve(), rounded)
    assert _checks(verdict) == ["vs_eager"] and verdict.message.startswith("vs eager on rounded inputs: max abs err 1")


def test_a_float_output_of_quantized_intermediates_is_held_to_sqnr():
    # softsign on int8 intermediates: every element a little off, no output step to count in.
    eager = torch.linspace(-1, 1, 100)
    actual = eager + 0.004 * torch.sin(torch.arange(100.0))  # about 46 dB
    verdict = compare_quantized(actual, actual.clone(), eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert verdict.ok and "held to SQNR" in verdict.notes[0] and verdict.checks == ["vs_eager", "vs_quantized"]
    assert 40 < verdict.metrics["sqnr_db"] < 50 and verdict.metrics["sqnr_db_vs_quantized"] == 300.0
    # The same error with no quantized intermediates is a plain float mismatch.
    assert not compare_quantized(actual, None, eager, [None], tolerances.resolve(), eager).ok


def test_a_float_output_of_quantized_intermediates_still_fails_when_noisy_or_off_quantized_eager():
    eager = torch.linspace(-1, 1, 100)
    noisy = eager + 0.2 * torch.sin(torch.arange(100.0))  # about 10 dB
    verdict = compare_quantized(noisy, None, eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert _checks(verdict) == ["vs_eager"] and "SQNR" in verdict.message
    close = eager + 0.004 * torch.sin(torch.arange(100.0))
    verdict = compare_quantized(close, eager + 0.02, eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert _checks(verdict) == ["vs_quantized"] and verdict.message.startswith("vs quantized eager: SQNR")


def test_a_bool_output_of_a_quantized_graph_stays_exact():
    eager = torch.zeros(1000, dtype=torch.bool)
    actual = eager.clone()
    actual[0] = True
    verdict = compare_quantized(actual, None, eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert _checks(verdict) == ["vs_eager"] and "output 0[0]: got 1, expected 0" in verdict.message


def test_a_bool_output_off_eager_but_equal_to_quantized_eager_is_the_quantization():
    # Information for the matrix: off eager on rounded inputs (a finding), equal to quantized eager.
    eager, program = torch.tensor([True, False]), torch.tensor([True, True])
    verdict = compare_quantized(program, program.clone(), eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert _checks(verdict) == ["vs_eager"] and verdict.metrics["matches_quantized"] is True


def test_cross_check_adds_a_vs_peer_check():
    tol = tolerances.resolve()
    ours, peer = torch.tensor([0.0, 1.0]), torch.tensor([0.0, 2.0])  # 2 steps of 0.5 apart
    verdict = compare_quantized(ours, ours, ours, [0.5], tol)
    verdict = cross_check(verdict, ours, peer, [0.5], tol, "fvp")
    assert verdict.checks == ["vs_eager", "vs_quantized", "vs_peer"]
    assert _checks(verdict) == ["vs_peer"] and verdict.metrics["max_err_qsteps_vs_fvp"] == 2.0
    assert verdict.message.startswith("vs fvp: 2 steps > 1 at output 0[1]: got 1, expected 2")
    same = cross_check(compare_quantized(ours, ours, ours, [0.5], tol), ours, ours.clone(), [0.5], tol, "fvp")
    assert same.ok and "vs_peer" in same.checks


def test_cross_check_of_an_output_with_no_step_uses_the_float_tolerance():
    tol = tolerances.resolve()
    ours = torch.tensor([1, 2])
    verdict = cross_check(compare_float(ours, ours, tol), ours, torch.tensor([1, 3]), [None], tol, "tosa_ref")
    assert _checks(verdict) == ["vs_peer"] and "vs tosa_ref: max abs err 1 beyond exact" in verdict.message
    assert verdict.metrics["max_abs_err_vs_tosa_ref"] == 1.0
