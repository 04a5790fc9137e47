"""run_one keeps this worker's lowerings for reuse (tests/conftest.py); a test that planted a fault
in what lowers always lowers afresh, and what it lowers is not kept."""

import torch

from etconform.cases import Case, randn
from tests import conftest
from tests.conftest import by_executor, planted_in_lowering
from tests.faults import sut

CONV = Case("selftest", "kept_conv", lambda: torch.nn.Conv2d(3, 8, 3), lambda g: (randn(g, 1, 3, 16, 16),))


def test_a_kept_lowering_serves_a_clean_rerun_and_never_a_test_with_a_fault_planted(run_one, monkeypatch):
    first = by_executor(run_one(CONV, "tosa_int"))["tosa_ref"]
    kept = set(conftest._KEPT)
    again = by_executor(run_one(CONV, "tosa_int"))["tosa_ref"]
    assert first["outcome"] == again["outcome"] == "pass" and set(conftest._KEPT) == kept  # served, not lowered anew
    assert first["metrics"] == again["metrics"]
    sut.narrow(monkeypatch.setattr, weight=(-7, 7))  # Arm's quantizer puts weights on 15 levels
    assert planted_in_lowering(monkeypatch) == ["executorch.backends.arm.quantizer.get_symmetric_quantization_config"]
    planted = by_executor(run_one(CONV, "tosa_int"))["tosa_ref"]
    assert (planted["outcome"], planted["stage"]) == ("fail", "quantize"), planted["message"]  # the fault was lowered
    assert set(conftest._KEPT) == kept  # and its lowering is not kept for others
