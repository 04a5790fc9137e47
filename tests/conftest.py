import collections
import dataclasses
import types
from pathlib import Path

import pytest

from etconform import runner
from etconform.cases import Case
from etconform.judging.expectations import Expectation
from etconform.lowering import cache, shared
from etconform.records import RecordWriter
from etconform.runner import CaseRun, run_case
from etconform.stages import StageError
from etconform.targets import TARGETS, Target

# Modules whose tests start whole pytest runs or lower models: a minute or more each. Handed out
# first under xdist, they do not leave one worker busy at the end while the other idles.
LONGEST_FIRST = ("test_xdist.py", "test_first_screen.py", "test_records.py",
                 "test_expectations.py", "test_model_thresholds.py", "test_cache.py", "test_crash.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)  # stable: file order otherwise


# Lowerings kept in this worker for run_one: (export digest, seed, target, environment) -> (target, Lowered).
# Most self-tests judge what comes after a lowering (executors, checks, records); a case they all
# use is lowered once. The target is kept with its program so that its functions' ids are never reused.
_KEPT: collections.OrderedDict = collections.OrderedDict()
_KEPT_MAX = 48


def planted_in_lowering(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What this test's monkeypatch replaced that a lowering can call: anything but the executors' own
    classes and modules (their faults act after the lowering). Reads MonkeyPatch's record of its setattrs."""
    found = []
    for obj, name, _ in monkeypatch._setattr:  # noqa: SLF001 - pytest keeps no public list of what it patched
        if obj is runner and name == "lowering":  # run_one's own
            continue
        owner = obj.__name__ if isinstance(obj, types.ModuleType) else getattr(obj, "__module__", "")
        if not owner.startswith("executors"):
            found.append(f"{owner}.{name}")
    return found


def _kept_lowering(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    real = runner.lowering

    def lowering(case, seed, built, target, workdir, wanted, cache_, salt):  # noqa: ANN001, ANN202
        digest = shared.export_digest(case, seed)
        if cache_ is not None or digest is None or planted_in_lowering(monkeypatch):
            return real(case, seed, built, target, workdir, wanted, cache_, salt)
        key = (digest, seed, repr(target), target.make, cache.environment())  # make: a field repr leaves out
        if key not in _KEPT:
            lowered, entry = real(case, seed, built, target, workdir, wanted, cache_, salt)
            if isinstance(lowered, StageError):
                return lowered, entry
            _KEPT[key] = (target, lowered)
            while len(_KEPT) > _KEPT_MAX:
                _KEPT.popitem(last=False)
        _KEPT.move_to_end(key)
        kept = _KEPT[key][1]
        workdir.mkdir(parents=True, exist_ok=True)  # the .pte where this test's records point, not the first's
        (workdir / kept.pte_path.name).write_bytes(kept.pte)
        return dataclasses.replace(kept, pte_path=workdir / kept.pte_path.name), None

    return lowering


@pytest.fixture
def run_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run a case on a target through the real pipeline, records into tmp_path. A lowering this worker
    made before for the same export, seed, target and environment is reused, unless the test planted
    something a lowering can call (planted_in_lowering): then it lowers afresh."""
    writer = RecordWriter(tmp_path, "selftest")
    monkeypatch.setattr(runner, "lowering", _kept_lowering(monkeypatch))

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
