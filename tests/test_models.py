"""The model catalog, the weights policy and model-level metrics."""

import pytest
import torch

from etconform.judging.compare import compare_model
from etconform.judging.tolerances import resolve
from etconform.plugin.catalog import model_cases
from tests.conftest import by_executor

MODELS = {c.subject: c for c in model_cases()}


def test_catalog_has_the_article_models_and_more():
    assert {"mobilenet_v2", "mobilenet_v2_lrn", "opt_125m"} <= set(MODELS)
    assert len(MODELS) >= 6


def test_opt_is_built_from_the_real_opt_125m_configuration():
    model = MODELS["opt_125m"].module().model
    cfg = model.config
    assert (cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads, cfg.vocab_size) == (12, 768, 12, 50272)
    assert 120e6 < sum(p.numel() for p in model.parameters()) < 130e6


@pytest.mark.parametrize("name", ["mobilenet_v2", "ds_cnn", "lstm"])
def test_evaluation_and_calibration_sets_are_seeded_and_distinct(name):
    built_a, built_b = MODELS[name].build_all(0), MODELS[name].build_all(0)
    assert len(built_a.samples) == MODELS[name].samples and len(built_a.calibration) >= 4
    assert all(torch.equal(x[0], y[0]) for x, y in zip(built_a.samples, built_b.samples))
    assert not any(torch.equal(s[0], c[0]) for s in built_a.samples for c in built_a.calibration)


def test_images_are_normalised_like_imagenet():
    (image,) = MODELS["mobilenet_v2"].build_all(0).samples[0]
    assert image.shape == (1, 3, 224, 224)
    assert -2.2 < float(image.min()) < -1.0 and 1.5 < float(image.max()) < 2.7


def test_pretrained_weights_absent_fail_clearly(monkeypatch, tmp_path):
    monkeypatch.setenv("ETCONFORM_WEIGHTS", "pretrained")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="pretrained weights not on disk.*run with --weights random"):
        MODELS["mobilenet_v2"].module()


def test_classifier_agreement_counts_rows():
    eager = [torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([[2.0, 0.0, 1.0]])]
    actual = [torch.tensor([[0.0, 1.0, 0.5]]), torch.tensor([[0.0, 0.1, 1.0]])]  # second: argmax differs
    verdict = compare_model(actual, eager, None, "classifier", True, resolve({"min_cosine": 0.0, "min_sqnr_db": -100}))
    assert verdict.metrics["top1_agreement"] == 0.5 and verdict.metrics["top5_agreement"] == 1.0
    assert verdict.ok  # 0.5 meets the default min_top1_agreement of 0.5
    strict = compare_model(actual, eager, None, "classifier", True, resolve({"min_top1_agreement": 0.9}))
    assert not strict.ok and "top-1 agreement 0.50 < 0.9" in strict.message


def test_language_model_kl_is_zero_for_identical_logits_and_positive_otherwise():
    logits = [torch.randn(1, 4, 10, generator=torch.Generator().manual_seed(0))]
    same = compare_model(logits, logits, None, "language_model", False, resolve())
    assert same.ok and same.metrics["kl_div"] == 0.0 and same.metrics["next_token_agreement"] == 1.0
    other = compare_model([logits[0] * 0.5], logits, None, "language_model", False, resolve())
    assert other.metrics["kl_div"] > 0 and not other.ok  # float targets want cosine >= 0.99999: 0.5x is 1.0, SQNR 6 dB fails


def test_a_model_runs_end_to_end_with_its_metrics_and_latency(run_one):
    records = by_executor(run_one(MODELS["ds_cnn"], "xnnpack_int8"))
    runtime = records["et_runtime"]
    assert runtime["outcome"] == "pass", runtime["message"]
    assert runtime["metrics"]["top1_agreement"] >= 0.5 and runtime["metrics"]["cosine_vs_quantized"] > 0.999
    assert runtime["latency"]["runs"] == 10 and runtime["latency"]["eager_median_ms"] > 0
    assert runtime["weights"] == "random (seeded)" and runtime["kind"] == "model"
