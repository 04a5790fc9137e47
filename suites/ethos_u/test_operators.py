"""Every catalog operator on the TOSA and Ethos-U targets."""

import pytest

from etconform.suite import operator_params

TARGETS = ("tosa_fp", "tosa_int", "ethos_u55_128", "ethos_u85_256")


@pytest.mark.parametrize(("case", "target"), operator_params(TARGETS))
def test_operator(case, target, conformance):
    conformance(case, target)
