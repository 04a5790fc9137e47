"""Every catalog operator on the XNNPACK targets."""

import pytest

from etconform.plugin.suite import operator_params, targets_of

TARGETS = targets_of("xnnpack")


@pytest.mark.parametrize(("case", "target"), operator_params(TARGETS))
def test_operator(case, target, conformance):
    conformance(case, target)
