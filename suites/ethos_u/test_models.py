"""Every catalog model on the TOSA and Ethos-U targets, with model-level metrics."""

import pytest

from etconform.suite import model_params

TARGETS = ("tosa_fp", "tosa_int", "ethos_u55_128", "ethos_u85_256")


@pytest.mark.parametrize(("case", "target"), model_params(TARGETS))
def test_model(case, target, conformance):
    conformance(case, target)
