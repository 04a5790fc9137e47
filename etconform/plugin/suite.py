"""What the thin suite files call: the catalog expanded over targets, as pytest params."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from etconform.cases import Case
from etconform.judging import expectations
from etconform.plugin.catalog import model_cases, operator_cases
from etconform.targets import TARGETS

TEST_TIMEOUT = 5400  # pytest-timeout's limit (pyproject.toml), which a heavy test gets beside its lowering


def params(cases: Iterable[Case], target_names: Iterable[str]) -> list:  # noqa: ANN401
    cases = list(cases)
    out = []
    for name in target_names:
        target = TARGETS[name]
        # A stale key stops collection, naming itself; one file covers operators and models.
        expectations.validate(name, (*operator_cases(), *model_cases()))
        for case in cases:
            if not case.applies_to(target):
                continue
            marks = [getattr(pytest.mark, case.kind), getattr(pytest.mark, target.backend), getattr(pytest.mark, target.name)]
            if case.smoke:
                marks.append(pytest.mark.smoke)
            if case.dynamic:
                marks.append(pytest.mark.dynamic)
            if case.allowance(target):  # hours of lowering: only when asked, with the time it needs
                marks += [pytest.mark.heavy, pytest.mark.timeout(case.allowance(target)["lower"] + TEST_TIMEOUT)]
            out.append(pytest.param(case, target, id=f"{case.id}-{target.name}", marks=marks))
    return out


def targets_of(*backends: str) -> tuple[str, ...]:
    """The registered targets of these backends, in registry order: a new target joins its suite by itself."""
    return tuple(name for name, target in TARGETS.items() if target.backend in backends)


def operator_params(target_names: Iterable[str]) -> list:  # noqa: ANN401
    return params(operator_cases(), target_names)


def model_params(target_names: Iterable[str]) -> list:  # noqa: ANN401
    return params(model_cases(), target_names)
