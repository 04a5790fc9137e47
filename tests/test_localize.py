"""--localize names the layer where a real lowering departs, and says whose fault it is.

A small depthwise-separable network on XNNPACK int8 and on TOSA INT (the TOSA reference
model; Arm's quantizer places the tap's quantization differently): clean, with a kernel
fault planted in one depthwise convolution (tests/faults), and on XNNPACK with the
quantizer's step of one tensor made coarse (a quantizer fault: quantized eager and the
program agree, both depart from eager).
"""

import pytest
import torch
from torch import nn

from etconform.analysis.localize import Localizer, first_departure, verdict_line
from etconform.cases import Built
from etconform.lowering import pipeline as lowering
from etconform.targets import TARGETS
from executors import EXECUTORS
from tests.faults import gain_error, planted

# target -> (the executor that runs its lowered program, the backend that computes the layers)
RUNS = {"xnnpack_int8": ("et_runtime", "XnnpackBackend"), "tosa_int": ("tosa_ref", "TOSABackend")}


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(cin, cin, 3, padding=1, groups=cin), nn.BatchNorm2d(cin), nn.ReLU6()),
        nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU6()),
    )


def _built() -> Built:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU6(), _block(8, 16), _block(16, 16),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10)).eval()
    g = torch.Generator().manual_seed(1)
    samples = [(torch.randn(1, 3, 32, 32, generator=g),) for _ in range(2)]
    calibration = [(torch.randn(1, 3, 32, 32, generator=g),) for _ in range(4)]
    return Built(model, samples, calibration)


def _localize(tmp_path, target: str = "xnnpack_int8") -> dict:
    untapped = {"partitions": 1, "undelegated_ops": {}}
    return Localizer(_built(), TARGETS[target], tmp_path, untapped).run(EXECUTORS[RUNS[target][0]], None)


def test_the_first_departure_is_the_first_fall_beyond_the_margin():
    assert first_departure([300.0, 50.0, 45.0, 40.0], 12.0) is None
    assert first_departure([300.0, 50.0, 30.0, 40.0], 12.0) == 2
    assert first_departure([300.0, float("nan")], 12.0) == 1
    assert first_departure([40.0, 27.0], 12.0, start_db=41.0) == 1  # 13 dB below the worst before it
    assert first_departure([40.0, 27.0], 12.0) == 0  # 20 dB below the ceiling: the input was exact


def test_the_verdict_says_amplified_only_when_the_output_is_far_below_every_layers_own_error():
    own = {"bound_qsteps": 1.0, "qsteps": 1.0, "lowest": {"layer": "3.1.0", "op": "conv2d", "own_sqnr_db": 52.0}}
    drifted = verdict_line({"first_departure": None, "own_error": {**own, "output_sqnr_vs_quantized_db": 13.6}})
    assert drifted.startswith("first departure: none") and "most roundings at 3.1.0" in drifted
    assert drifted.endswith("the network amplifies the roundings)")
    clean = verdict_line({"first_departure": None, "own_error": {**own, "output_sqnr_vs_quantized_db": 300.0}})
    assert "amplifies" not in clean and "60.0 dB from quantized eager" in clean


@pytest.mark.parametrize("target", RUNS)
def test_a_clean_lowering_names_no_layer(tmp_path, target):
    found = _localize(tmp_path, target)
    assert found["first_departure"] is None and found["first_departure_from_eager"] is None, found["verdict"]
    assert found["verdict"].startswith("first departure: none")
    assert found["own_error"]["qsteps"] <= 1.0, found["own_error"]
    # XNNPACK taps each convolution and ReLU6 (10 layers); Arm fuses them, one tap per group (6).
    # Untapped, both lower to one partition; tapped, the Arm partitioner makes two of it, and says so.
    assert len(found["layers"]) >= 6
    assert found["tapping"]["partitions"] == [1, 1 if target == "xnnpack_int8" else 2]
    assert found["tapping"]["partitioning_changed"] == (target == "tosa_int")
    home = found["columns"].index("runs_on")
    assert all(row[home].startswith(RUNS[target][1]) for row in found["layers"])
    own = found["columns"].index("own_err_qsteps")
    assert all(row[own] is not None for row in found["layers"])  # every tap forced, on both quantizers' layouts


def test_a_clean_squeeze_excitation_on_arm_names_no_layer(tmp_path):
    """MobileNetV3's block: Arm's quantizer decomposes its average pool (slices and avg_pool2d), which
    shares its input's grid while the pool's tap gets a 9x finer one that saturates on a sample
    beyond calibration. Each once made a clean lowering look like a kernel fault (5 to 55 steps)."""
    from torchvision.ops import SqueezeExcitation

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.Hardswish(),
                          SqueezeExcitation(16, 8, scale_activation=nn.Hardsigmoid), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(16, 10)).eval()
    g = torch.Generator().manual_seed(1)
    built = Built(model, *([(torch.randn(1, 3, 28, 28, generator=g),) for _ in range(n)] for n in (2, 4)))
    found = Localizer(built, TARGETS["tosa_int"], tmp_path, {}).run(EXECUTORS["tosa_ref"], None)
    columns = found["columns"]
    layers = {row[0]: row for row in found["layers"]}
    assert "2.avgpool" in layers and "3" in layers, list(layers)  # the decomposed pools are tapped
    own = columns.index("own_err_qsteps")
    assert all(row[own] == 0.0 for row in found["layers"]), found["layers"]
    assert found["first_departure"] is None, found["verdict"]
    stood_in = columns.index("own_input_stood_in_share")
    # The pool's finer tap grid saturates on one element in 32 (and so the pool and flatten after it), and says so.
    assert 0 < layers["2.avgpool"][stood_in] < 0.1 and layers["0"][stood_in] == 0.0, found["layers"]


@pytest.mark.parametrize("target", RUNS)
def test_a_kernel_fault_in_one_layer_is_localized_to_it(tmp_path, target):
    with planted(gain_error(layer=1, gain=1.5)):  # the second depthwise convolution's weights 1.5x
        found = _localize(tmp_path, target)
    first = found["first_departure"]
    # The depthwise convolution, or on Arm the ReLU6 it is fused with (their one quantized output)
    assert first is not None and first["layer"] in ("3.0.0", "3.0.2"), found["verdict"]
    assert first["kind"] == "kernel" and first["against"] == "vs quantized eager" and first["own_err_qsteps"] > 10
    # The layers after it inherit the fault but compute their own part right: not charged with it.
    columns = found["columns"]
    own, inherited = columns.index("own_err_qsteps"), columns.index("max_err_qsteps")
    after = [row for row in found["layers"] if row[0].startswith("3.1")]
    assert after and all(row[own] <= 1.0 for row in after) and all(row[inherited] > 5 for row in after)
    assert found["verdict"].startswith(f"first departure: {first['layer']} ({first['op']}), kernel:")


def test_a_quantizer_fault_is_called_the_quantizer(tmp_path, monkeypatch):
    real = lowering.convert_pt2e

    def coarse(prepared):
        """The step of the second block's depthwise ReLU6 output 32 times too coarse, in quantize and dequantize."""
        converted = real(prepared)
        source = next(n for n in converted.graph.nodes if n.meta.get("nn_module_stack")
                      and list(n.meta["nn_module_stack"].values())[-1][0] == "3.0.2")
        for q in [u for u in source.users if "quantize_per_tensor" in str(u.target)]:
            for node in [q, *q.users]:
                node.args = (node.args[0], node.args[1] * 32, *node.args[2:])
        converted.recompile()
        return converted

    monkeypatch.setattr(lowering, "convert_pt2e", coarse)
    found = _localize(tmp_path)
    first = found["first_departure"]
    assert first is not None and first["kind"] == "quantizer", found["verdict"]
    assert first["layer"] == "3.0.2" and first["against"] == "vs eager"


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_only_a_mismatch_no_known_failure_covers_is_localized_unasked():
    """The runner localizes a model unasked when the policy's one decision is `mismatch`: covered, it is not."""
    from etconform.judging.expectations import Expectation, KnownFailure
    from etconform.judging.policy import Outcome, decide

    findings = [{"stage": "compare", "check": "vs_quantized", "message": "cosine 0.979 < 0.995"}]
    known = Expectation(xfail=(KnownFailure("known drift", executors=("et_runtime",), checks=("vs_quantized",),
                                            min={"cosine": 0.97}),))
    assert decide(findings, False, Expectation(), "et_runtime", {"cosine": 0.979}).outcome == Outcome.MISMATCH
    assert decide(findings, False, known, "et_runtime", {"cosine": 0.979}).outcome == Outcome.XFAIL
    beyond = decide(findings, False, known, "et_runtime", {"cosine": 0.9})  # beyond its ceiling
    assert beyond.outcome == Outcome.MISMATCH and "cosine 0.9 below the expected 0.97" in beyond.beyond
    assert decide([], False, Expectation(), "et_runtime", {}).outcome == Outcome.PASS


def test_a_tensor_a_pad_reads_is_read_at_the_pad_on_xnnpack(tmp_path, monkeypatch):
    """ResNet-8's blocks pad a ReLU's output before the next convolution. XNNPACK's int8 delegate cannot
    return a tensor a pad also reads (FINDINGS.md): tapped there, the program fails to run. Read at the
    pad instead, the layer keeps its name and the tapped program runs."""
    from etconform.analysis import localize

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.ZeroPad2d(1), nn.Conv2d(8, 8, 3)).eval()
    g = torch.Generator().manual_seed(1)
    built = Built(model, *([(torch.randn(1, 3, 16, 16, generator=g),) for _ in range(n)] for n in (2, 4)))
    found = Localizer(built, TARGETS["xnnpack_int8"], tmp_path, {}).run(EXECUTORS["et_runtime"], None)
    layers = {row[0]: row[1] for row in found["layers"]}
    assert layers.get("1") == "relu, read at the pad after it", layers
    monkeypatch.setattr(localize, "read_at_pads", lambda program, sources: {})  # tapped where it is computed
    with pytest.raises(Exception, match="xnn_status_invalid_parameter"):
        Localizer(built, TARGETS["xnnpack_int8"], tmp_path / "direct", {}).run(EXECUTORS["et_runtime"], None)
