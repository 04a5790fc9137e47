"""Loads the catalogs: every module in operators/ (and models/) exposes CASES."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from etconform.cases import Case


@cache
def load(package: str) -> tuple[Case, ...]:
    root = importlib.import_module(package)
    cases: list[Case] = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        cases.extend(importlib.import_module(f"{package}.{info.name}").CASES)
    seen: dict[str, Case] = {}
    for case in cases:
        if case.id in seen:
            raise ValueError(f"duplicate case id {case.id!r} in {package}")
        seen[case.id] = case
    return tuple(cases)


def operator_cases() -> tuple[Case, ...]:
    return load("operators")


def model_cases() -> tuple[Case, ...]:
    return load("models")


@cache
def by_id() -> dict[str, Case]:
    """Every case, operators and models, by id."""
    return {c.id: c for c in (*operator_cases(), *model_cases())}
