import dataclasses
from pathlib import Path

import pytest

from etconform.cases import Case
from etconform.judging.expectations import Expectation
from etconform.records import RecordWriter
from etconform.runner import CaseRun, run_case
from etconform.targets import TARGETS, Target

# Modules whose tests start whole pytest runs or lower models: a minute or more each. Handed out
# first under xdist, they do not leave one worker busy at the end while the other idles.
LONGEST_FIRST = ("test_xdist.py", "test_first_screen.py", "test_records.py",
                 "test_expectations.py", "test_model_thresholds.py", "test_cache.py", "test_crash.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)  # stable: file order otherwise


@pytest.fixture
def run_one(tmp_path: Path):
    """Run a case on a target through the real pipeline, records into tmp_path."""
    writer = RecordWriter(tmp_path, "selftest")

    def run(case: Case, target: str | Target, expect: Expectation | None = None) -> CaseRun:
        target = TARGETS[target] if isinstance(target, str) else target
        return run_case(case, target, tmp_path, writer, 0, "selftest", expect)

    run.results_dir = tmp_path
    return run


def by_executor(run: CaseRun) -> dict:
    return {r["executor"]: r for r in run.records}


def unannotated(name: str) -> Target:
    """The real integer target with a quantizer that annotates nothing: the partitioner gets a float graph."""
    real = TARGETS[name]

    def make(workdir):
        partitioner, quantizer = real.make(workdir)
        quantizer.annotate = lambda model: model
        return partitioner, quantizer

    return dataclasses.replace(real, make=make)
