import dataclasses
from pathlib import Path

import pytest

from etconform.cases import Case
from etconform.expectations import Expectation
from etconform.records import RecordWriter
from etconform.runner import CaseRun, run_case
from etconform.targets import TARGETS, Target


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
