"""Tolerance math and metrics: each assertion checks a number worked out by hand."""

import math

import pytest
import torch

from etconform import tolerances
from etconform.compare import SQNR_CAP_DB, compare_float, compare_quantized, metrics


def test_exact_match_reports_capped_sqnr_and_unit_cosine():
    x = torch.randn(10)
    m = metrics([x], [x.clone()])
    assert m == {"max_abs_err": 0.0, "mean_abs_err": 0.0, "sqnr_db": SQNR_CAP_DB, "cosine": 1.0}


def test_sqnr_of_a_known_error():
    ref = torch.ones(100)
    m = metrics([ref + 0.1], [ref])  # signal 100, noise 100 * 0.01 = 1 -> 20 dB
    assert m["sqnr_db"] == pytest.approx(20.0, abs=1e-3)
    assert m["max_abs_err"] == pytest.approx(0.1, rel=1e-5)


def test_cosine_of_opposite_vectors_is_minus_one():
    x = torch.tensor([1.0, 2.0, 3.0])
    assert metrics([-x], [x])["cosine"] == pytest.approx(-1.0)


def test_float_bound_is_atol_plus_rtol_times_reference():
    tol = tolerances.resolve({"atol": 0.01, "rtol": 0.1})
    ref = torch.tensor([10.0, 0.0])
    assert compare_float(torch.tensor([10.99, 0.0099]), ref, tol).ok  # 0.99 <= 0.01 + 1.0
    bad = compare_float(torch.tensor([11.02, 0.0]), ref, tol)  # 1.02 > 1.01
    assert not bad.ok
    assert "output 0[0]" in bad.message and "got 11.02" in bad.message


def test_nan_agrees_with_nan_only():
    tol = tolerances.resolve()
    nan = float("nan")
    assert compare_float(torch.tensor([nan, 1.0]), torch.tensor([nan, 1.0]), tol).ok
    assert not compare_float(torch.tensor([0.0, 1.0]), torch.tensor([nan, 1.0]), tol).ok
    assert compare_float(torch.tensor([math.inf]), torch.tensor([math.inf]), tol).ok
    assert not compare_float(torch.tensor([-math.inf]), torch.tensor([math.inf]), tol).ok


def test_shape_mismatch_is_a_failed_comparison():
    verdict = compare_float(torch.zeros(2, 3), torch.zeros(3, 2), tolerances.resolve())
    assert not verdict.ok and "shape (2, 3), expected (3, 2)" in verdict.message


def test_quantized_bounds_are_in_output_steps():
    scale = 0.5
    tol = tolerances.resolve({"qtol_steps": 1.0, "quant_error_steps": 2.0})
    eager = torch.tensor([0.0, 1.0])
    qref = torch.tensor([0.5, 1.0])  # the quantized reference is 1 step off eager
    one_step = torch.tensor([1.0, 1.0])  # 1 step from qref, 2 steps from eager
    verdict = compare_quantized(one_step, qref, eager, [scale], tol)
    assert verdict.ok
    assert verdict.metrics["max_err_qsteps"] == 1.0
    assert verdict.metrics["max_err_qsteps_vs_eager"] == 2.0
    assert verdict.tolerance["float_qtol_steps"] == 3.0
    two_steps = torch.tensor([1.5, 1.0])
    verdict = compare_quantized(two_steps, qref, eager, [scale], tol)
    assert not verdict.ok and "vs quantized eager: 2 steps > 1" in verdict.message


def test_float_bound_catches_a_drifting_quantized_reference():
    # The lowering matches quantized eager exactly, but both are 4 steps off eager.
    eager, drifted = torch.zeros(3), torch.full((3,), 2.0)
    verdict = compare_quantized(drifted, drifted, eager, [0.5], tolerances.resolve())
    assert not verdict.ok and verdict.metrics["max_err_qsteps"] == 0.0
    assert "vs eager: 4 steps beyond input rounding > 3" in verdict.message


def test_what_input_rounding_explains_is_not_charged_to_the_backend():
    # eager(rounded inputs) moved by 5 steps: an output 6 steps off has 1 unexplained step.
    eager, rounded, actual = torch.zeros(2), torch.tensor([2.5, 0.0]), torch.tensor([3.0, 0.0])
    verdict = compare_quantized(actual, None, eager, [0.5], tolerances.resolve(), rounded)
    assert verdict.ok
    assert verdict.metrics["max_err_qsteps_vs_eager"] == 6.0
    assert verdict.metrics["input_rounding_qsteps"] == 5.0
    assert verdict.metrics["unexplained_qsteps_vs_eager"] == 1.0
    # The same rounding elsewhere in the tensor explains nothing here: elementwise.
    verdict = compare_quantized(torch.tensor([0.0, 3.0]), None, eager, [0.5], tolerances.resolve(), rounded)
    assert not verdict.ok and verdict.metrics["unexplained_qsteps_vs_eager"] == 6.0


def test_unquantized_output_falls_back_to_the_float_tolerance():
    verdict = compare_quantized(torch.ones(2), torch.ones(2), torch.ones(2), [None], tolerances.resolve())
    assert verdict.ok and "float tolerance used" in verdict.notes[0]


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
    assert not compare_quantized(torch.tensor([1.0]), None, eager, [None], tolerances.resolve(), rounded).ok


def test_a_float_output_of_quantized_intermediates_is_held_to_sqnr():
    # softsign on int8 intermediates: every element a little off, no output step to count in.
    eager = torch.linspace(-1, 1, 100)
    actual = eager + 0.004 * torch.sin(torch.arange(100.0))  # about 46 dB
    verdict = compare_quantized(actual, actual.clone(), eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert verdict.ok and "held to SQNR" in verdict.notes[0]
    assert 40 < verdict.metrics["sqnr_db"] < 50 and verdict.metrics["sqnr_db_vs_quantized"] == 300.0
    # The same error with no quantized intermediates is a plain float mismatch.
    assert not compare_quantized(actual, None, eager, [None], tolerances.resolve(), eager).ok


def test_a_float_output_of_quantized_intermediates_still_fails_when_noisy_or_off_quantized_eager():
    eager = torch.linspace(-1, 1, 100)
    noisy = eager + 0.2 * torch.sin(torch.arange(100.0))  # about 10 dB
    verdict = compare_quantized(noisy, None, eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert not verdict.ok and "SQNR" in verdict.message
    close = eager + 0.004 * torch.sin(torch.arange(100.0))
    verdict = compare_quantized(close, eager + 0.02, eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert not verdict.ok and verdict.message.startswith("vs quantized eager: SQNR")


def test_a_bool_output_of_a_quantized_graph_stays_exact():
    eager = torch.zeros(1000, dtype=torch.bool)
    actual = eager.clone()
    actual[0] = True
    assert not compare_quantized(actual, None, eager, [None], tolerances.resolve(), eager, quantized_inside=True).ok


def test_a_bool_output_off_eager_but_equal_to_quantized_eager_is_the_quantization():
    from etconform import matrix

    eager, program = torch.tensor([True, False]), torch.tensor([True, True])
    verdict = compare_quantized(program, program.clone(), eager, [None], tolerances.resolve(), eager, quantized_inside=True)
    assert not verdict.ok and verdict.metrics["matches_quantized"] is True
    record = {"outcome": "mismatch", "executor": "tosa_ref", "delegation": {"partitions": 1},
              "metrics": verdict.metrics, "tolerance": verdict.tolerance}
    assert matrix._record_outcome(record) == "mismatch"
    record["metrics"] = {**verdict.metrics, "matches_quantized": False}
    assert matrix._record_outcome(record) == "wrong_delegated"
