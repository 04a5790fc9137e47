"""Mutation self-tests of the oracle the backend does not choose (etconform.judging.ideal, etconform.judging.oracle).

Each fault is planted in the system under test, never in the suite: the Arm quantizer's
config (ExecuTorch), torchao's convert_pt2e, the TOSA reference model's outputs. Each runs
through the real runner on tosa_int and must fail with the right stage and message; the
same case clean must pass under the same expectations, so that no test here can pass by
failing everything.
"""


import numpy as np
import pytest
import torch

from etconform.cases import Case, Lambda, randn
from etconform.judging import ideal, oracle, policy
from etconform.judging.expectations import Expectation
from etconform.targets import Formats
from tests.conftest import by_executor
from tests.faults import sut

CONV = Case("selftest", "conv", lambda: torch.nn.Conv2d(3, 8, 3), lambda g: (randn(g, 1, 3, 16, 16),))
SIGMOID = Case("selftest", "sigmoid", lambda: Lambda(torch.sigmoid), lambda g: (randn(g, 2, 8, 8, 8),))


def _baseline_of(records) -> Expectation:
    """What `etconform baselines` would keep of one clean run."""
    return Expectation(baseline=oracle.draft_baselines(records, "tosa_int", {r["case"]: [policy.verified_level(records)]
                                                                              for r in records})[records[0]["case"]])


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Each case lowered clean on tosa_int once: its records and the baseline they make."""
    from etconform.records import RecordWriter
    from etconform.runner import run_case
    from etconform.targets import TARGETS

    folder = tmp_path_factory.mktemp("clean")
    writer = RecordWriter(folder, "selftest")
    found = {}
    for case in (CONV, SIGMOID):
        run = run_case(case, TARGETS["tosa_int"], folder, writer, 0, "selftest", None)
        found[case.id] = (run, _baseline_of(run.records))
    return found


def _judge(run, expect):
    return policy.judge(run.records, expect, run.summary())


@pytest.mark.parametrize("case", [CONV, SIGMOID], ids=["conv", "sigmoid"])
def test_a_clean_lowering_passes_its_own_baseline(case, clean, run_one):
    _, expect = clean[case.id]
    print(expect.baseline)
    assert expect.baseline["level"] == "tosa"
    assert set(expect.baseline["executors"]) == {"quantized_eager", "tosa_ref"}
    assert expect.baseline["executors"]["tosa_ref"]["share_off"] == 0.0  # the TOSA graph is bit-exact here
    run = run_one(case, "tosa_int", expect)
    for record in run.records:
        assert {"vs_ideal", "vs_eager"} <= set(record["checks"]) and record["metrics"]["ideal_gap_db"] < 1.0
    assert by_executor(run)["tosa_ref"]["tolerance"]["share_off"] == 0.0
    assert _judge(run, expect).action == "pass"


def test_without_a_baseline_the_gap_is_recorded_and_said_to_be_ungated(run_one):
    run = run_one(CONV, "tosa_int", Expectation())
    record = by_executor(run)["tosa_ref"]
    assert "ideal_gap_db" in record["metrics"] and "ideal_gap_db" not in record["tolerance"]
    assert "not gated: no baseline for this case" in record["message"]


def test_activations_on_fewer_levels_than_declared_fail_at_quantize_naming_the_tensor(monkeypatch, clean, run_one):
    sut.narrow(monkeypatch.setattr, input_activation=(-16, 15), output_activation=(-16, 15))
    expect = clean[CONV.id][1]
    run = run_one(CONV, "tosa_int", expect)
    record = by_executor(run)["tosa_ref"]
    assert (record["outcome"], record["stage"]) == ("fail", "quantize")
    assert record["message"].startswith("input input_1: quantized on 32 levels [-16, 15], the target declares 8-bit activations")
    assert "output of aten.conv2d (node conv2d): quantized on 32 levels" in record["message"]
    assert _judge(run, expect).action == "fail"


def test_weights_on_a_coarser_grid_fail_at_quantize_naming_the_weight(monkeypatch, clean, run_one):
    sut.narrow(monkeypatch.setattr, weight=(-7, 7))
    expect = clean[CONV.id][1]
    run = run_one(CONV, "tosa_int", expect)
    record = by_executor(run)["tosa_ref"]
    assert (record["outcome"], record["stage"]) == ("fail", "quantize")
    assert "quantized on 15 levels [-7, 7], the target declares 8-bit weights (255 levels)" in record["message"]
    assert _judge(run, expect).action == "fail"


@pytest.mark.parametrize("factor", [0.25, 3.0], ids=["ranges_clipped_to_a_quarter", "steps_3x_coarse"])
@pytest.mark.parametrize("case", [CONV, SIGMOID], ids=["conv", "sigmoid"])
def test_a_quantizer_that_clips_or_coarsens_falls_short_of_the_ideal(factor, case, monkeypatch, clean, run_one):
    sut.steps(monkeypatch.setattr, factor)
    expect = clean[case.id][1]
    run = run_one(case, "tosa_int", expect)
    for name in ("quantized_eager", "tosa_ref"):  # the lowering is faithful to a bad quantizer: both fail
        record = by_executor(run)[name]
        print(name, record["outcome"], record["message"])
        assert (record["outcome"], record["stage"]) == ("mismatch", "compare")
        finding = next(f for f in record["findings"] if f["check"] == "vs_ideal")
        assert finding["message"].startswith("vs ideal 8-bit: SQNR ") and "dB short >" in finding["message"]
        assert record["metrics"]["ideal_gap_db"] > expect.baseline["executors"][name]["ideal_gap_db"] + oracle.GAP_FLOOR_DB
    assert _judge(run, expect).action == "fail"


@pytest.mark.parametrize("case", [CONV, SIGMOID], ids=["conv", "sigmoid"])
def test_a_tosa_graph_one_step_off_everywhere_fails_against_quantized_eager(case, monkeypatch, clean, run_one):
    sut.tosa_off_by_one(monkeypatch.setattr)
    expect = clean[case.id][1]
    run = run_one(case, "tosa_int", expect)
    record = by_executor(run)["tosa_ref"]
    print(record["outcome"], record["message"])
    assert record["outcome"] == "mismatch" and record["metrics"]["share_off"] > 0.9
    assert any(f["check"] == "vs_quantized" and "elements on another grid value" in f["message"] for f in record["findings"])
    assert by_executor(run)["quantized_eager"]["outcome"] == "pass"  # the quantizer is not to blame
    assert _judge(run, expect).action == "fail"


def test_a_lookup_table_one_entry_off_fails_a_case_that_was_exact(monkeypatch, clean, run_one):
    """Planted in ExecuTorch's Arm TABLE: few elements move, too few for SQNR; the exact baseline sees them."""
    sut.lut_one_entry(monkeypatch.setattr)
    expect = clean[SIGMOID.id][1]
    run = run_one(SIGMOID, "tosa_int", expect)
    record = by_executor(run)["tosa_ref"]
    print(record["metrics"], record["message"])
    assert record["outcome"] == "mismatch" and 0 < record["metrics"]["share_off"] < 0.1
    assert "elements on another grid value (share " in record["message"] and "this seed's baseline 0 + 0" in record["message"]
    assert _judge(run, expect).action == "fail"


def test_a_case_verified_lower_than_its_baseline_is_lost_coverage():
    records = [{"executor": "quantized_eager", "role": "reference", "level": "quantization", "outcome": "pass"},
               {"executor": "tosa_ref", "role": "lowered", "level": "tosa", "outcome": "pass"},
               {"executor": "stream", "role": "lowered", "level": "stream", "outcome": "skip",
                "message": "the functional model lacks round mode TRUNCATE"}]
    was_stream = Expectation(baseline={"level": "stream", "executors": {}})
    judgement = policy.judge(records, was_stream, "")
    assert judgement.action == "fail"
    assert judgement.message.startswith("LOST COVERAGE: verified at 'tosa' where the baseline verified 'stream'")
    assert "stream: skip the functional model lacks round mode TRUNCATE" in judgement.message
    assert policy.judge(records, Expectation(baseline={"level": "tosa", "executors": {}}), "").action == "pass"


def test_a_known_failure_is_not_a_verification():
    records = [{"executor": "tosa_ref", "role": "lowered", "level": "tosa", "outcome": "xfail",
                "findings": [{"stage": "compare", "check": "vs_quantized", "message": "off"}]},
               {"executor": "quantized_eager", "role": "reference", "level": "quantization", "outcome": "pass"}]
    assert policy.verified_level(records) == "quantization"


def test_the_ideal_reference_uses_every_level_declared():
    """Identity on uniform data: the ideal's only error is rounding to 2^bits levels, 6.02 dB a bit."""
    g = torch.Generator().manual_seed(0)
    calibration = [(torch.rand(4096, generator=g) * 2 - 1,) for _ in range(4)]
    samples = [(torch.rand(4096, generator=g) * 2 - 1,)]
    identity = Lambda(lambda x: x * 1.0)
    for bits, formats in ((8, Formats(8, 8)), (16, Formats(16, 8))):
        (out,) = ideal.ideal_outputs(identity, samples, calibration, formats)
        noise = float(((out - samples[0][0]) ** 2).mean())
        sqnr = 10 * np.log10(float((samples[0][0] ** 2).mean()) / noise)
        print(bits, sqnr)
        assert 6.02 * bits - 3.0 < sqnr < 6.02 * bits + 3.0  # rounding twice (input, output): about 3 dB under one


def test_the_ideal_reference_quantizes_weights_at_the_declared_width():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 16)
    x = [(torch.randn(8, 64),)]
    sqnr = {}
    for bits in (4, 8):
        (out,) = ideal.ideal_outputs(linear, x, x, Formats(16, bits))
        ref = linear(x[0][0]).detach()
        sqnr[bits] = 10 * np.log10(float((ref**2).mean()) / float(((out - ref) ** 2).mean()))
    print(sqnr)
    assert sqnr[8] - sqnr[4] > 20  # four more bits of weights: about 24 dB


def test_a_baseline_keeps_each_seed_the_worst_of_its_runs_and_the_lowest_level():
    records = [{"target": "tosa_int", "kind": "operator", "case": "c", "executor": "tosa_ref", "seed": seed,
                "metrics": {"ideal_gap_db": gap, "share_off": share}} for seed, gap, share in ((11, 0.4, 0.0), (12, 0.9, 0.01))]
    drafted = oracle.draft_baselines(records, "tosa_int", {"c": ["stream", "tosa"]})
    assert drafted == {"c": {"level": "tosa", "executors": {"tosa_ref": {
        "ideal_gap_db": 0.9, "ideal_gap_db_spread": 0.5, "ideal_gap_db_at": {"11": 0.4, "12": 0.9},
        "share_off": 0.01, "share_off_spread": 0.01, "share_off_at": {"11": 0.0, "12": 0.01}}}}}


def test_a_case_is_held_to_its_own_seed_or_to_its_worst_seed_plus_its_spread():
    from etconform.judging.compare import Verdict

    def verdict_with(share):
        return Verdict({"share_off": share, "elements_off": round(share * 100)}, {}, checks=["vs_quantized"])

    noisy = Expectation(baseline={"executors": {"tosa_ref": {"share_off": 0.1, "share_off_spread": 0.05,
                                                             "share_off_at": {"7": 0.05, "8": 0.1}}}})
    for seed, share, fails in ((9, 0.15, False), (9, 0.16, True), (7, 0.05, False), (7, 0.06, True)):
        v = verdict_with(share)
        oracle.hold_to_exactness(v, noisy, "tosa_ref", seed)
        assert bool(v.findings) == fails, (seed, share)
    v = verdict_with(0.06)
    oracle.hold_to_exactness(v, noisy, "tosa_ref", 7)
    assert "6 of 100 elements on another grid value (share 0.06 > 0.05: this seed's baseline 0.05 + 0)" in v.findings[0].message
    # The gaps on an unmeasured seed: at least the catalog's seed-to-seed spread (p90) over the worst seed.
    gaps = Expectation(baseline={"executors": {"tosa_ref": {"ideal_gap_db": 2.0, "ideal_gap_db_spread": 0.1,
                                                            "ideal_gap_db_at": {"7": 2.0, "8": 1.9}}}})
    assert oracle._allowed(gaps, "tosa_ref", "ideal_gap_db", oracle.GAP_FLOOR_DB, 7)[0] == 3.0
    allowed, why = oracle._allowed(gaps, "tosa_ref", "ideal_gap_db", oracle.GAP_FLOOR_DB, 9)
    assert allowed == 2.0 + oracle.UNMEASURED_SEED_DB["ideal_gap_db"] and "p90" in why


def test_one_element_far_off_fails_on_the_largest_error_where_sqnr_barely_moves():
    """A lookup table wrong at one input code, in the quantizer's own reference too: only the largest error shows it."""
    from etconform.judging.compare import Verdict

    g = torch.Generator().manual_seed(0)
    eager = torch.randn(4096, generator=g)
    ideal_out = eager + torch.randn(4096, generator=g) * 0.01
    program = ideal_out.clone()
    program[7] += 0.2  # 20 times the typical error, on one element of 4096
    base = {"ideal_gap_db": 0.0, "ideal_gap_db_spread": 0.0, "max_err_gap_db": 0.0, "max_err_gap_db_spread": 0.0}
    expect = Expectation(baseline={"executors": {"quantized_eager": base}})
    verdict = Verdict({}, {}, checks=["vs_eager"])
    oracle.hold_to_ideal(verdict, [program], [eager], [ideal_out], 8, expect, "quantized_eager", 0)
    print(verdict.metrics, verdict.message)
    assert verdict.metrics["ideal_gap_db"] < oracle.GAP_FLOOR_DB  # SQNR alone would let it through
    assert verdict.metrics["max_err_gap_db"] > 10
    assert verdict.message.startswith("vs ideal 8-bit: largest error 0.2")


def test_a_case_held_to_the_ideal_on_its_seed_is_no_longer_judged_in_the_quantizers_own_steps_but_a_nan_still_fails():
    from etconform.judging import tolerances
    from etconform.judging.compare import compare_quantized

    eager = torch.linspace(-1, 1, 128)
    off = eager + 5 * 0.01  # 5 steps of 0.01 off eager: the grid bound (3 steps) fails it
    gridded = compare_quantized(off, None, eager, [0.01], tolerances.resolve())
    assert any(f.check == "vs_eager" for f in gridded.findings)
    ideal_held = compare_quantized(off, None, eager, [0.01], tolerances.resolve(), grid_bounds=False)
    assert ideal_held.findings == [] and ideal_held.metrics["max_err_qsteps_vs_rounded"] == pytest.approx(5, abs=0.01)
    nan = off.clone()
    nan[3] = float("nan")
    (finding,) = compare_quantized(nan, None, eager, [0.01], tolerances.resolve(), grid_bounds=False).findings
    assert finding.check == "vs_eager" and "1 of 128 elements NaN/inf" in finding.message
    measured = {"ideal_gap_db_at": {"5": 0.1}, "max_err_gap_db_at": {"5": 0.2}}
    held = Expectation(baseline={"executors": {"tosa_ref": measured}})
    assert not oracle.grid_bounds_apply(held, "tosa_ref", 5)
    # Another seed, another executor, a baseline without the largest error: the grid bounds stay.
    assert oracle.grid_bounds_apply(held, "tosa_ref", 6) and oracle.grid_bounds_apply(held, "stream", 5)
    only_gap = Expectation(baseline={"executors": {"tosa_ref": {"ideal_gap_db_at": {"5": 0.1}}}})
    assert oracle.grid_bounds_apply(only_gap, "tosa_ref", 5)
    assert oracle.grid_bounds_apply(Expectation(baseline={}), "tosa_ref", 5) and oracle.grid_bounds_apply(Expectation(), "x", 5)


def test_integer_outputs_equal_quantized_eager_exactly():
    """An integer result a lowering changed is wrong, however far eager itself is (bitwise ops on rounded inputs)."""
    from etconform.judging import tolerances
    from etconform.judging.compare import compare_quantized

    quantized = torch.tensor([3, 1, 4, 1, 5], dtype=torch.int64)
    eager = torch.tensor([3, 1, 4, 1, 6], dtype=torch.int64)
    same = compare_quantized(quantized.clone(), quantized, eager, [None], tolerances.resolve())
    assert "vs_quantized" in same.checks and not any(f.check == "vs_quantized" for f in same.findings)
    moved = quantized.clone()
    moved[0] = 2**40
    verdict = compare_quantized(moved, quantized, eager, [None], tolerances.resolve())
    (finding,) = [f for f in verdict.findings if f.check == "vs_quantized"]
    assert "exact (not a float output)" in finding.message


def test_the_report_counts_the_cases_the_oracle_measured_but_did_not_gate():
    from etconform.analysis import report

    def record(case, gated):
        return {"case": case, "target": "tosa_int16", "metrics": {"ideal_gap_db": 0.4},
                "tolerance": {"ideal_gap_db": 1.4} if gated else {}}

    (caveat,) = report._ungated([record("a", True), record("b", False), record("c", False)])
    assert "not gated, no baseline (tosa_int16 2 of 3)" in caveat and "etconform baselines" in caveat
    assert report._ungated([record("a", True)]) == []


def test_a_run_of_skips_verified_nothing_and_says_what_was_missing():
    skipped = [{"executor": "tosa_ref", "role": "lowered", "outcome": "skip", "message": "tosa_reference_model missing"},
               {"executor": "quantized_eager", "role": "reference", "outcome": "pass"}] * 3
    said = policy.unverified_run(skipped)
    assert said.startswith("nothing was verified") and "tosa_ref: tosa_reference_model missing (3x)" in said
    assert policy.unverified_run([*skipped, {"executor": "tosa_ref", "role": "lowered", "outcome": "pass"}]) == ""
    failed_early = [{"executor": "tosa_ref", "role": "lowered", "outcome": "xfail", "stage": "lower"}]
    assert policy.unverified_run(failed_early) == ""  # nothing missing: a known failure before execution


def test_an_ideal_that_is_not_finite_where_eager_is_fails_closed():
    from etconform.judging.compare import Verdict

    eager = torch.linspace(-1, 1, 64)
    ideal_out = eager.clone()
    ideal_out[3] = float("nan")
    verdict = Verdict({}, {}, checks=["vs_eager"])
    oracle.hold_to_ideal(verdict, [eager.clone()], [eager], [ideal_out], 8, Expectation(), "tosa_ref", 0)
    assert verdict.message == "vs ideal: the ideal 8-bit reference has 1 NaN/inf where eager has none"


def test_a_baseline_may_be_drafted_from_a_seed_that_failed_only_the_grid_bounds_it_retires():
    """`etconform baselines` takes a run whose failures are all bounds in the quantizer's own steps (what
    its baseline retires on that seed), never one with another failure, a NaN, or no ideal gap to judge it."""
    from etconform.judging import tolerances
    from etconform.judging.compare import compare_quantized

    eager = torch.linspace(-1, 1, 128)
    off = eager + 5 * 0.01 + torch.linspace(0, 0.02, 128)  # beyond the step, bias and RMS bounds
    gridded = compare_quantized(off, None, eager, [0.01], tolerances.resolve(), eager_on_rounded_inputs=eager)
    found = [policy.finding("compare", f.check, f.message) for f in gridded.findings]
    assert len(found) == 3 and all(oracle.retired(f) for f in found), found  # steps, bias, RMS: the wording retire() knows
    nan = off.clone()
    nan[3] = float("nan")
    nan_found = compare_quantized(nan, None, eager, [0.01], tolerances.resolve(), eager_on_rounded_inputs=eager).findings
    assert not any(oracle.retired(policy.finding("compare", f.check, f.message)) for f in nan_found if "NaN" in f.message)

    def record(findings, **metrics):
        return {"executor": "tosa_ref", "role": "lowered", "outcome": "mismatch", "findings": findings,
                "metrics": {"ideal_gap_db": 0.4, "max_err_gap_db": 1.0, **metrics}, "delegation": {"partitions": 1}}

    assert oracle.measurable(record(found), Expectation())
    # Its level is what it verified once those bounds are retired: the lowered program's, not nothing.
    (kept,) = [oracle.retire({**record(found), "level": "tosa"}, Expectation())]
    assert kept["outcome"] == "pass" and kept["findings"] == [] and policy.verified_level([kept]) == "tosa"
    other = policy.finding("compare", "vs_quantized", "vs quantized eager: 3 steps > 1")
    assert not oracle.measurable(record([*found, other]), Expectation())
    assert not oracle.measurable(record(found, ideal_gap_db=None), Expectation())
    assert not oracle.measurable(record([policy.finding("run", "", "crashed")]), Expectation())


def test_a_small_output_gone_wrong_beside_a_large_one_fails_on_its_own_gap():
    """Pooled over both outputs, the small one's error would hide in the large one's signal: ~0.1 dB."""
    from etconform.judging.compare import Verdict

    g = torch.Generator().manual_seed(0)
    large, small = torch.randn(256, generator=g) * 100, torch.randn(256, generator=g) * 0.1
    step = lambda t: (t / (t.abs().max() / 127)).round() * (t.abs().max() / 127)  # noqa: E731 - the ideal int8 grid
    golden, ideal = [(large, small)], [(step(large), step(small))]
    wrong = [(step(large), step(small) + 0.05)]  # every element of the small output half its range off
    measured = {"ideal_gap_db_at": {"0": 0.0}, "max_err_gap_db_at": {"0": 0.0}, "ideal_gap_db": 0.0, "max_err_gap_db": 0.0}
    held = Expectation(baseline={"executors": {"tosa_ref": measured}})
    verdict = Verdict({}, {}, [], [])
    oracle.hold_to_ideal(verdict, wrong, golden, ideal, 8, held, "tosa_ref", 0)
    assert verdict.metrics["ideal_gap_db"] > 20, verdict.metrics
    assert any("(output 1)" in f.message and "dB short" in f.message for f in verdict.findings), verdict.findings
    right = Verdict({}, {}, [], [])
    oracle.hold_to_ideal(right, ideal, golden, ideal, 8, held, "tosa_ref", 0)
    assert right.findings == [] and right.metrics["ideal_gap_db"] == 0.0
