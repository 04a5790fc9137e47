"""Every catalog operator on the XNNPACK targets."""

import pytest

from etconform.suite import operator_params

TARGETS = ("xnnpack_fp32", "xnnpack_int8")


@pytest.mark.parametrize(("case", "target"), operator_params(TARGETS))
def test_operator(case, target, conformance):
    conformance(case, target)
