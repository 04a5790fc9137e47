"""Every catalog model on the TOSA and Ethos-U targets, with model-level metrics."""

import pytest

from etconform.plugin.suite import model_params, targets_of

TARGETS = targets_of("tosa", "ethos_u")


@pytest.mark.parametrize(("case", "target"), model_params(TARGETS))
def test_model(case, target, conformance):
    conformance(case, target)
