"""Every catalog operator on the TOSA and Ethos-U targets."""

import pytest

from etconform.plugin.suite import operator_params, targets_of

TARGETS = targets_of("tosa", "ethos_u")


@pytest.mark.parametrize(("case", "target"), operator_params(TARGETS))
def test_operator(case, target, conformance):
    conformance(case, target)
