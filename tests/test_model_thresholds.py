"""Model gates against quantized eager see one broken layer: faults planted in the real lowering."""

import pytest

from etconform.judging.thresholds import thresholds
from etconform.plugin.catalog import model_cases
from tests.conftest import by_executor
from tests.faults import gain_error, planted, zeroed_channels

DS_CNN = {c.id: c for c in model_cases()}["ds_cnn-kws"]


def _vs_quantized(record):
    return [f["message"] for f in record["findings"] if f["check"] == "vs_quantized"]


def test_the_measured_gates_are_read_per_model_and_target():
    assert thresholds("ds_cnn-kws", "tosa_int")["min_sqnr_db_vs_quantized"] == 40.0
    assert "measured" not in thresholds("ds_cnn-kws", "tosa_int")
    assert thresholds("ds_cnn-kws", "no_such_target") == {}


def test_every_gate_names_a_model_a_target_and_its_measurement():
    from etconform.judging.thresholds import _table
    from etconform.judging.tolerances import resolve
    from etconform.targets import TARGETS

    models = {c.id for c in model_cases()}
    for case_id, by_target in _table().items():
        assert case_id in models, case_id
        for target, entry in by_target.items():
            assert target in TARGETS and entry.get("measured"), (case_id, target)
            resolve(thresholds(case_id, target))  # only keys of Tolerance


def test_a_clean_lowering_passes_the_gates_against_quantized_eager(run_one):
    record = by_executor(run_one(DS_CNN, "tosa_int"))["tosa_ref"]
    assert _vs_quantized(record) == [] and record["metrics"]["cosine_vs_quantized"] >= 0.9999
    assert record["tolerance"]["min_sqnr_db_vs_quantized"] == 40.0


@pytest.mark.parametrize(("fault", "words"), [
    (gain_error(layer=1, gain=1.05), "SQNR"),
    (zeroed_channels(layer=1, channels=4), "cosine"),
])
def test_one_broken_layer_fails_against_quantized_eager(run_one, fault, words):
    with planted(fault):
        records = by_executor(run_one(DS_CNN, "tosa_int"))
    assert _vs_quantized(records["quantized_eager"]) == []  # the reference was built before the fault
    found = _vs_quantized(records["tosa_ref"])
    assert records["tosa_ref"]["outcome"] == "mismatch" and any(words in m for m in found), found
    # A model mismatch no known failure covers is localized unasked (etconform.runner), not only judged.
    localized = records["tosa_ref"].get("localization") or {}
    assert localized.get("verdict", "").startswith("first departure:") and "error" not in localized, localized
