"""Every catalog model on the XNNPACK targets, with model-level metrics."""

import pytest

from etconform.suite import model_params

TARGETS = ("xnnpack_fp32", "xnnpack_int8")


@pytest.mark.parametrize(("case", "target"), model_params(TARGETS))
def test_model(case, target, conformance):
    conformance(case, target)
