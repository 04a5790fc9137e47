"""Scales are checked, not trusted; operators calibrate apart from the sample they are checked on.

Everything goes through the real pipeline: torch.export, PT2E with the target's own
quantizer, and the target's lowering.
"""

import dataclasses
from pathlib import Path

import pytest
import torch

from etconform.cases import CALIBRATION_SAMPLES, SATURATING_GAIN, Case, Lambda, op_cases, randn
from etconform.lowering import pipeline as lowering
from etconform.lowering.pipeline import Lowered, clamp_to_output_grid, fake_quantize, lower
from etconform.lowering.scales import MAX_SCALE_RATIO, check_scales, describe
from etconform.targets import TARGETS

LINEAR_RELU = op_cases("linear_relu", lambda: torch.nn.Sequential(torch.nn.Linear(32, 16), torch.nn.ReLU()), {
    "2d": lambda g: (randn(g, 4, 32),),
})[0]
CONV2D = op_cases("conv2d", lambda: torch.nn.Conv2d(3, 8, 3), {"3x3": lambda g: (randn(g, 1, 3, 12, 12),)})[0]


def _lower(case: Case, target: str, workdir: Path) -> Lowered:
    built = case.build_all(0)
    return lower(built.module, built.samples[0], TARGETS[target], workdir, built.calibration)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Lowered:
    return _lower(LINEAR_RELU, "tosa_int", tmp_path_factory.mktemp("clean"))


@pytest.mark.parametrize("case, target", [(LINEAR_RELU, "tosa_int"), (CONV2D, "xnnpack_int8")], ids=["linear_relu-tosa_int", "conv2d-xnnpack_int8"])
def test_clean_case_has_every_step_as_fine_as_its_range_needs(case, target, tmp_path, clean):
    lowered = clean if target == "tosa_int" else _lower(case, target, tmp_path)
    report = lowered.scales
    print(case.id, target, report.ratios)
    assert report.note == "" and report.findings == []
    assert len(report.ratios) == 2  # the input and the output activation; weights are not checked
    assert all(0.5 < r <= MAX_SCALE_RATIO for r in report.ratios.values())
    assert report.worst == max(report.ratios.values())


def test_output_and_input_grids_are_recorded(clean):
    ((scale, zero_point, qmin, qmax),) = clean.output_qparams
    assert (qmin, qmax) == (-128, 127) and zero_point == -128  # ReLU: the grid starts at 0
    assert clean.output_scales == [scale]
    assert clean.input_qparams[0] is not None


def _corrupt(which: str, factor: float):
    """convert_pt2e that scales one quantize node's step (and its dequantizes') by `factor`."""
    real = lowering.convert_pt2e

    def convert(prepared: torch.fx.GraphModule) -> torch.fx.GraphModule:
        module = real(prepared)
        quantize = _quantize_node(module, which)
        for node in [quantize, *quantize.users]:
            node.args = (node.args[0], node.args[1] * factor, *node.args[2:])
        module.recompile()
        return module

    return convert


def _quantize_node(module: torch.fx.GraphModule, which: str) -> torch.fx.Node:
    quantizers = [n for n in module.graph.nodes if n.target == torch.ops.quantized_decomposed.quantize_per_tensor.default]
    if which == "input":
        return next(n for n in quantizers if n.args[0].op == "placeholder")
    output = module.graph.output_node().args[0][0]  # dequantize <- quantize
    return output.args[0]


@pytest.mark.parametrize("which, factor", [("output", 16.0), ("input", 32.0)])
def test_a_step_coarser_than_the_range_needs_is_found_and_named(which, factor, monkeypatch, tmp_path, clean):
    monkeypatch.setattr(lowering, "convert_pt2e", _corrupt(which, factor))
    lowered = _lower(LINEAR_RELU, "tosa_int", tmp_path)
    report = lowered.scales
    tensor = _quantize_node(lowered.quantized_module, which).args[0]
    ratio = report.ratios[tensor.name]
    print(which, factor, report.ratios, report.findings)
    assert ratio == pytest.approx(factor * clean.scales.ratios[tensor.name], rel=0.05)
    assert report.worst == ratio
    (finding,) = report.findings
    assert report.causes == {}  # a wrong scale, not one the quantizer chose knowingly
    assert finding.startswith(f"{describe(tensor)}: step ") and f"{ratio:.1f}x" in finding and "int8" in finding
    # The lowering itself went on: the executors still get a program to run.
    assert lowered.pte and lowered.output_scales[0] == pytest.approx(clean.output_scales[0] * (factor if which == "output" else 1))


def test_the_check_reports_instead_of_raising_on_a_graph_it_cannot_run(clean):
    report = check_scales(clean.quantized_module, [(torch.randn(3, 5),)])  # wrong shape for Linear(32, 16)
    assert report.note.startswith("scales not checked: RuntimeError") and report.ratios == {} and report.findings == []


def test_constant_zero_and_non_finite_ranges_are_ignored(clean):
    x = torch.randn(4, 32)
    assert "input_1" in check_scales(clean.quantized_module, [(x,)]).ratios
    assert "input_1" not in check_scales(clean.quantized_module, [(torch.zeros(4, 32),)]).ratios  # nothing to need a step
    x[0, 0] = float("nan")
    assert "input_1" not in check_scales(clean.quantized_module, [(x,)]).ratios
    x[0, 0] = float("inf")
    assert "input_1" not in check_scales(clean.quantized_module, [(x,), (torch.randn(4, 32),)]).ratios


def test_saturated_outputs_are_clamped_to_the_output_grid(clean):
    """Quantized eager saturates where float eager does not: clamping the golden removes exactly that."""
    built = dataclasses.replace(LINEAR_RELU, saturating=True).build_all(0)
    (x,) = built.samples[0]
    with torch.no_grad():
        golden = built.module(*fake_quantize((x,), clean.input_qparams))
        quantized = clean.quantized_module(x)
    ((scale, zero_point, qmin, qmax),) = clean.output_qparams
    high = scale * (qmax - zero_point)
    clamped = clamp_to_output_grid(golden, clean.output_qparams)
    steps = (golden - quantized).abs().max() / scale
    print(f"beyond the grid by {(golden.max() - high) / scale:.1f} steps; error {steps:.1f} steps, clamped {(clamped - quantized).abs().max() / scale:.1f}")
    assert golden.max() > high + 10 * scale  # the saturating sample leaves the calibrated range
    assert clamped.max() == pytest.approx(high) and clamped.min() >= scale * (qmin - zero_point)
    # What is left is the weights' rounding, within the float-eager bound (1 + 2 steps).
    assert (clamped - quantized).abs().max() <= 3 * scale < 10 * scale < (golden - quantized).abs().max()


def test_clamping_leaves_float_integer_and_bool_outputs_alone():
    grid = (0.1, 0, -128, 127)  # represents [-12.8, 12.7]
    x = torch.tensor([-20.0, 1.0, 20.0])
    ints, flags = torch.tensor([500, -500]), torch.tensor([True, False])
    out = clamp_to_output_grid((x, x, ints, flags), [grid, None, grid, grid])
    assert torch.equal(out[0], torch.tensor([-12.8, 1.0, 12.7]))
    assert out[1] is x and out[2] is ints and out[3] is flags
    assert isinstance(clamp_to_output_grid([x], [grid]), list)
    assert torch.equal(clamp_to_output_grid(x, [grid]), out[0])
    with pytest.raises(ValueError, match="2 outputs but 1"):
        clamp_to_output_grid((x, x), [grid])


def test_operators_calibrate_on_a_seeded_sample_apart_from_the_checked_one():
    first, again = CONV2D.build_all(0), CONV2D.build_all(0)
    assert len(first.calibration) == CALIBRATION_SAMPLES
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first.calibration, again.calibration))
    assert torch.equal(first.samples[0][0], again.samples[0][0])
    assert not any(torch.equal(first.samples[0][0], c[0]) for c in first.calibration)
    assert not torch.equal(first.calibration[0][0], CONV2D.build_all(1).calibration[0][0])  # the seed moves it
    module, inputs = CONV2D.build(0)
    assert torch.equal(inputs[0], first.samples[0][0])


def test_saturating_scales_the_checked_floating_inputs_only():
    case = op_cases("mixed", lambda: torch.nn.Identity(), {
        "v": lambda g: (randn(g, 8), torch.randint(-5, 5, (8,), generator=g)),
    })[0]
    plain, saturating = case.build_all(0), dataclasses.replace(case, saturating=True).build_all(0)
    assert torch.equal(saturating.samples[0][0], plain.samples[0][0] * SATURATING_GAIN)
    assert torch.equal(saturating.samples[0][1], plain.samples[0][1])
    assert all(torch.equal(a[0], b[0]) for a, b in zip(saturating.calibration, plain.calibration))


@pytest.mark.parametrize("subject, module, make, cause", [
    ("global_avg_pool", lambda: torch.nn.AvgPool2d(7), lambda g: (randn(g, 1, 4, 7, 7),), "shared"),
    ("tiny_mul", lambda: Lambda(lambda x: x * 2.0), lambda g: (randn(g, 64, std=1e-4),), "minimum step"),
])
def test_a_coarse_step_the_quantizer_chose_knowingly_says_why(subject, module, make, cause, tmp_path):
    """Arm shares the pooled output's grid with its wider input, and never steps below 2^-16."""
    case = op_cases(subject, module, {"v": make})[0]
    report = _lower(case, "tosa_int", tmp_path).scales
    print(subject, report.ratios, report.deliberate)
    assert report.findings == [] and report.deliberate and set(report.causes.values()) == {cause}
    assert all(name in report.ratios and report.ratios[name] > MAX_SCALE_RATIO for name in report.causes)
    assert all(("shared with input" if cause == "shared" else "minimum step (2^-16)") in f for f in report.deliberate)
