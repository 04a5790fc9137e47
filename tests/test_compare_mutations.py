"""Deliberately wrong results: each must fail, under the right check, saying why."""

import math

import torch

from etconform.judging import tolerances
from etconform.judging.compare import (
    SQNR_CAP_DB,
    Verdict,
    compare_float,
    compare_model,
    compare_quantized,
    cross_check,
    metrics,
)


def _checks(verdict: Verdict) -> list[str]:
    return [f.check for f in verdict.findings]


def _with_nan(t: torch.Tensor, every: int = 10) -> torch.Tensor:
    out = t.clone()
    out.view(-1)[::every] = math.nan
    return out


def _ramp(n: int) -> torch.Tensor:
    return torch.linspace(-1, 1, n)


def test_ten_percent_nan_sinks_sqnr_and_cosine():
    ref = _ramp(100)
    m = metrics([_with_nan(ref)], [ref])
    assert (m["nonfinite_mismatches"], m["sqnr_db"], m["cosine"]) == (10, -SQNR_CAP_DB, 0.0)


def test_ten_percent_nan_fails_the_float_comparison():
    ref = _ramp(100)
    verdict = compare_float(_with_nan(ref), ref, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"]
    assert "10 of 100 elements NaN/inf" in verdict.message and "first at output 0[0]: got nan, expected -1" in verdict.message


def test_ten_percent_nan_fails_both_quantized_checks():
    ref = _ramp(100)
    verdict = compare_quantized(_with_nan(ref), ref, ref, [0.01], tolerances.resolve())
    assert _checks(verdict) == ["vs_quantized", "vs_eager"]
    assert verdict.findings[0].message.startswith("vs quantized eager: 10 of 100 elements NaN/inf")


def test_an_infinity_where_the_reference_is_finite_fails():
    ref = _ramp(100)
    actual = ref.clone()
    actual[5] = math.inf
    verdict = compare_quantized(actual, ref, ref, [0.01], tolerances.resolve())
    assert _checks(verdict) == ["vs_quantized", "vs_eager"] and "1 of 100 elements NaN/inf" in verdict.message
    assert verdict.metrics["nonfinite_mismatches"] == 1


def test_ten_percent_nan_fails_a_model():
    logits = [torch.randn(1, 10, generator=torch.Generator().manual_seed(i)) for i in range(10)]
    actual = [_with_nan(t) for t in logits]  # the first logit of every sample: 10% of elements
    tol = tolerances.resolve({"min_cosine": 0.0, "min_sqnr_db": -1000.0, "min_top1_agreement": 0.0})  # aggregates cannot save it
    verdict = compare_model(actual, logits, None, "classifier", True, tol)
    assert _checks(verdict) == ["vs_eager"] and verdict.metrics["sqnr_db"] == -SQNR_CAP_DB
    assert "10 of 100 elements NaN/inf" in verdict.message


def test_one_all_nan_sample_of_four_fails_a_model():
    eager = [torch.randn(1, 100, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    actual = [t.clone() for t in eager]
    actual[2] = torch.full_like(eager[2], math.nan)
    verdict = compare_model(actual, eager, [t.clone() for t in eager], "classifier", True, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager", "vs_quantized"]
    assert (verdict.metrics["nonfinite_mismatches"], verdict.metrics["cosine"]) == (100, 0.0)
    assert "100 of 400 elements NaN/inf where the reference is not (or the reverse), first at output 2[0, 0]" in verdict.message


def test_a_nan_output_scale_fails():
    ref = _ramp(100)
    verdict = compare_quantized(ref.clone(), ref, ref, [math.nan], tolerances.resolve())
    assert _checks(verdict) == ["vs_quantized", "vs_eager"]
    assert "output 0 has step nan, not a positive finite scale" in verdict.message


def test_a_negative_or_zero_scale_fails():
    ref = _ramp(100)
    assert not compare_quantized(ref + 1, ref, ref, [-0.01], tolerances.resolve()).ok
    assert not compare_quantized(ref.clone(), ref, ref, [0.0], tolerances.resolve()).ok


def test_a_nan_tolerance_fails_instead_of_passing_every_comparison():
    ref = _ramp(100)
    nan_steps = tolerances.resolve({"qtol_steps": math.nan})
    verdict = compare_quantized(ref.clone(), ref, ref, [0.01], nan_steps)
    assert _checks(verdict) == ["vs_quantized", "vs_eager"] and "0 steps > nan" in verdict.message
    assert not compare_float(ref.clone(), ref, tolerances.resolve({"atol": math.nan})).ok
    assert not compare_quantized(ref.clone(), ref, ref, [0.01], tolerances.resolve({"max_bias_qsteps": math.nan})).ok


def test_a_nan_peer_scale_fails_the_cross_check():
    ref = _ramp(100)
    verdict = compare_quantized(ref.clone(), ref, ref, [0.01], tolerances.resolve())
    verdict = cross_check(verdict, ref.clone(), ref.clone(), [math.nan], tolerances.resolve(), "fvp")
    assert _checks(verdict) == ["vs_peer"] and "vs fvp: output 0 has step nan" in verdict.message


def test_a_one_step_bias_on_1000_elements_fails_against_quantized_eager():
    step = 0.01
    qref = torch.round(_ramp(1000) / step) * step
    verdict = compare_quantized(qref + step, qref, qref, [step], tolerances.resolve())
    assert "vs_quantized" in _checks(verdict)
    assert verdict.metrics["max_err_qsteps"] == 1.0  # within qtol_steps 1 elementwise
    assert verdict.metrics["mean_err_qsteps"] == 1.0
    assert "vs quantized eager: mean error +1.00 steps (bias) > 0.3" in verdict.message


def test_a_one_step_bias_fails_the_cross_check():
    step = 0.01
    peer = torch.round(_ramp(1000) / step) * step
    verdict = cross_check(compare_quantized(peer, None, peer, [step], tolerances.resolve()), peer - step, peer, [step],
                          tolerances.resolve(), "tosa_ref")
    assert _checks(verdict) == ["vs_peer"] and "vs tosa_ref: mean error -1.00 steps (bias) > 0.3" in verdict.message


def test_an_output_off_raw_eager_but_on_eager_of_rounded_inputs_passes():
    step = 0.01
    eager = _ramp(100)
    rounded = eager + 26 * step  # what rounding the inputs moved (a steep operator)
    verdict = compare_quantized(rounded.clone(), None, eager, [step], tolerances.resolve(), rounded)
    assert verdict.ok
    assert round(verdict.metrics["max_err_qsteps_vs_eager"]) == 26 and verdict.metrics["max_err_qsteps_vs_rounded"] == 0.0


def test_an_output_on_raw_eager_but_26_steps_off_eager_of_rounded_inputs_fails():
    # The old rule added |eager(round(x)) - eager(x)| on either side of eager: this passed.
    step = 0.01
    eager = _ramp(100)
    rounded = eager + 26 * step
    verdict = compare_quantized(eager.clone(), None, eager, [step], tolerances.resolve(), rounded)
    assert _checks(verdict) == ["vs_eager", "vs_eager", "vs_eager"]  # elementwise, bias and the precision floor
    assert round(verdict.metrics["max_err_qsteps_vs_rounded"]) == 26
    assert verdict.findings[0].message.startswith("vs eager on rounded inputs: 26 steps > 3 at output 0[")
    assert "vs eager on rounded inputs: mean error -26.00 steps (bias) > 0.5" in verdict.message


def test_a_bool_returned_as_float_fails():
    eager = torch.tensor([True, False, True])
    as_float = eager.float()  # 1.0 / 0.0: equal in value
    verdict = compare_float(as_float, eager, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"] and verdict.message == "vs eager: output 0 is float32, expected bool"
    verdict = compare_quantized(as_float, eager, eager, [None], tolerances.resolve(), eager)
    assert _checks(verdict) == ["vs_eager"] and "output 0 is float32, expected bool" in verdict.message
    verdict = compare_model([as_float], [eager], None, "regression", False, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"] and "output 0 is float32, expected bool" in verdict.message


def test_a_peer_of_another_dtype_fails_the_cross_check():
    ours = torch.tensor([1, 2], dtype=torch.int64)
    verdict = cross_check(compare_float(ours, ours, tolerances.resolve()), ours, ours.int(), [None], tolerances.resolve(), "fvp")
    assert _checks(verdict) == ["vs_peer"] and "vs fvp: output 0 is int64, expected int32" in verdict.message


def test_bf16_softmax_fails_the_fp32_tolerance():
    x = torch.randn(2, 1000, generator=torch.Generator().manual_seed(3))
    verdict = compare_float(torch.softmax(x.bfloat16(), -1).float(), torch.softmax(x, -1), tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"]
    assert "beyond atol 0.0001*min(max|ref|, 1) + rtol 0.0001*|ref|" in verdict.message


def test_opposite_infinities_fail():
    ref = torch.tensor([math.inf, 1.0])
    verdict = compare_float(torch.tensor([-math.inf, 1.0]), ref, tolerances.resolve())
    assert _checks(verdict) == ["vs_eager"] and "1 of 2 elements NaN/inf" in verdict.message
    assert metrics([torch.tensor([-math.inf, 1.0])], [ref])["sqnr_db"] == -SQNR_CAP_DB


def test_two_bits_lost_inside_fail_the_precision_floor_though_every_element_is_within_bounds():
    """A recipe that keeps every element within 3 steps and unbiased, but spreads errors over +-2 steps."""
    step = 0.01
    eager = _ramp(1000)
    clean = torch.round(eager / step) * step
    assert compare_quantized(clean.clone(), clean.clone(), eager, [step], tolerances.resolve(), eager).ok
    spread = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]).repeat(200) * step
    noisy = clean + spread
    verdict = compare_quantized(noisy.clone(), noisy, eager, [step], tolerances.resolve(), eager)
    m = verdict.metrics
    assert m["max_err_qsteps"] == 0.0 and m["max_err_qsteps_vs_rounded"] <= 2.5 and abs(m["mean_err_qsteps_vs_rounded"]) < 0.05
    assert _checks(verdict) == ["vs_eager"] and 1.3 < m["rms_err_qsteps_vs_rounded"] < 1.7
    assert "RMS error 1." in verdict.message and "precision lost below what the grid allows" in verdict.message


def test_on_an_int16_grid_one_step_in_float32_passes_and_two_steps_fail():
    """Near the top of an int16 grid, float32 dequantization reads one step as 1 +- 0.004 steps."""
    step = 0.0140625
    ref = (torch.arange(32000, 32767, dtype=torch.float64) * step).float()
    levels = torch.arange(32000, 32767, dtype=torch.float64)
    one = ((levels + torch.where(levels % 2 == 0, 1.0, -1.0)) * step).float()  # every element one step off, unbiased
    clean = compare_quantized(one, ref, one, [step], tolerances.resolve())
    assert "vs_quantized" not in _checks(clean), clean.message
    assert 1.0 < clean.metrics["max_err_qsteps"] < 1.004
    two = one.clone()
    two[0] += step  # now two steps high
    assert "2 steps > 1" in compare_quantized(two, ref, two, [step], tolerances.resolve()).message
