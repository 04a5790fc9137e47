"""The artifact cache: warm reruns reuse the lowering, and nothing stale or corrupt is trusted."""

import dataclasses
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from etconform.cases import Case, Lambda, randn
from etconform.lowering import cache as cache_mod
from etconform.lowering.cache import ArtifactCache, case_key
from etconform.lowering.shared import program_digest
from etconform.records import RecordWriter
from etconform.runner import run_case
from etconform.stages import StageTimeout
from etconform.targets import TARGETS
from executors import EXECUTORS
from executors.base import Availability
from tests.conftest import by_executor

ADD = Case("selftest", "cache_add", lambda: Lambda(lambda x: x + 1.0), lambda g: (randn(g, 4, 64),))


@pytest.fixture
def cached_run(tmp_path):
    store = ArtifactCache(tmp_path / "cache")
    writer = RecordWriter(tmp_path / "results", "selftest")

    def run(case, target, salt="s"):
        return run_case(case, TARGETS[target] if isinstance(target, str) else target, tmp_path / "results", writer, 0,
                        "selftest", None, store, salt)

    run.store = store
    return run


def _summary(run):
    return {r["executor"]: (r["outcome"], r["metrics"].get("max_err_qsteps"), r["metrics"].get("max_abs_err")) for r in run.records}


def test_a_warm_rerun_takes_the_lowering_and_outputs_from_the_cache_and_judges_alike(cached_run):
    cold = cached_run(ADD, "tosa_int")
    warm = cached_run(ADD, "tosa_int")
    assert {r["cache"]["lowering"] for r in cold.records} == {"miss"}
    assert {r["cache"]["lowering"] for r in warm.records} == {"hit"}
    assert {r["cache"]["outputs"] for r in warm.records} == {"cached"}
    assert _summary(warm) == _summary(cold)
    assert by_executor(warm)["tosa_ref"]["outcome"] == "pass"
    assert cached_run.store.stats()["entries"] == 1


def test_a_corrupt_entry_is_rebuilt_never_trusted(cached_run):
    cold = cached_run(ADD, "xnnpack_int8")
    folder = next(p for p in cached_run.store.root.glob("??/*") if p.is_dir())
    data = bytearray((folder / "entry.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "entry.pt").write_bytes(bytes(data))
    again = cached_run(ADD, "xnnpack_int8")
    notes = {r["cache"]["lowering"] for r in again.records if r["outcome"] != "skip"}
    assert len(notes) == 1 and notes.pop().startswith("rebuilt: the cached entry was unreadable (ValueError: entry.pt")
    assert _summary(again) == _summary(cold)
    third = cached_run(ADD, "xnnpack_int8")  # the rebuilt entry serves the next run
    assert by_executor(third)["et_runtime"]["cache"]["lowering"] == "hit"


def test_a_truncated_pte_in_the_cache_is_rebuilt(cached_run):
    cached_run(ADD, "xnnpack_fp32")
    folder = next(p for p in cached_run.store.root.glob("??/*") if p.is_dir())
    (folder / "program.pte").write_bytes((folder / "program.pte").read_bytes()[:100])
    again = by_executor(cached_run(ADD, "xnnpack_fp32"))["et_runtime"]
    assert again["cache"]["lowering"].startswith("rebuilt") and "program.pte" in again["cache"]["lowering"]
    assert again["outcome"] == "pass"


def test_an_executor_present_only_now_runs_on_the_cached_program(cached_run, monkeypatch):
    runtime = EXECUTORS["et_runtime"]
    with monkeypatch.context() as m:
        m.setattr(type(runtime), "probe", lambda self, target: Availability(False, "not yet"))
        first = by_executor(cached_run(ADD, "xnnpack_int8"))
    assert first["et_runtime"]["outcome"] == "skip"
    later = by_executor(cached_run(ADD, "xnnpack_int8"))["et_runtime"]
    assert later["cache"] == {"lowering": "hit", "key": later["cache"]["key"], "outputs": "run"}
    assert later["outcome"] == "pass"
    assert by_executor(cached_run(ADD, "xnnpack_int8"))["et_runtime"]["cache"]["outputs"] == "cached"


def test_a_fault_planted_in_the_target_or_in_the_process_is_not_hidden_by_the_cache(cached_run, monkeypatch):
    """A warm entry from a clean run must not stand in for a run with a patched partitioner or plugin."""
    cached_run(ADD, "xnnpack_fp32")
    real = TARGETS["xnnpack_fp32"]

    def make(workdir):
        partitioner, quantizer = real.make(workdir)
        partitioner.partition = lambda program: _claim_nothing(program)
        return partitioner, quantizer

    broken = by_executor(cached_run(ADD, dataclasses.replace(real, make=make)))["et_runtime"]
    assert broken["cache"]["lowering"] == "miss" and broken["delegation"]["partitions"] == 0
    assert broken["outcome"] == "fail" and broken["stage"] == "partition"
    other_plugin = by_executor(cached_run(ADD, "xnnpack_fp32", salt="another conftest"))["et_runtime"]
    assert other_plugin["cache"]["lowering"] == "miss"


def _claim_nothing(program):
    from executorch.exir.backend.partitioner import PartitionResult

    return PartitionResult(tagged_exported_program=program, partition_tags={})


def test_keys_follow_inputs_targets_and_each_backends_installed_files(monkeypatch):
    module, sample = ADD.build(0)
    program = torch.export.export(module, sample)
    digest = program_digest(program, [sample], [sample])
    base = {t: case_key(digest, TARGETS[t]) for t in ("tosa_int", "ethos_u55_128", "xnnpack_int8")}
    assert len(set(base.values())) == 3
    assert case_key(program_digest(program, [(sample[0] + 1e-6,)], [sample]), TARGETS["tosa_int"]) != base["tosa_int"]
    # An edit under executorch/backends/arm changes the Arm targets' keys only.
    real = cache_mod._installed

    def edited(dist):
        parts = dict(real(dist))
        if dist == "executorch":
            parts["arm"] = "edited"
        return parts

    monkeypatch.setattr(cache_mod, "_installed", edited)
    cache_mod.under_test.cache_clear()
    try:
        after = {t: case_key(digest, TARGETS[t]) for t in base}
    finally:
        cache_mod.under_test.cache_clear()
    assert after["tosa_int"] != base["tosa_int"] and after["ethos_u55_128"] != base["ethos_u55_128"]
    assert after["xnnpack_int8"] == base["xnnpack_int8"]


def test_code_loaded_in_the_process_enters_the_key(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("x = 2\n")
    mod_a, mod_b = types.SimpleNamespace(__file__=str(a)), types.SimpleNamespace(__file__=str(b))
    assert cache_mod.in_process([mod_a]) != cache_mod.in_process([mod_b])
    assert cache_mod.in_process([mod_a]) == cache_mod.in_process([mod_a])


def _partitioning_with(partition):
    """xnnpack_fp32 with its partitioner's partition() replaced."""
    real = TARGETS["xnnpack_fp32"]

    def make(workdir):
        partitioner, quantizer = real.make(workdir)
        partitioner.partition = partition
        return partitioner, quantizer

    return dataclasses.replace(real, make=make)


def test_a_lowering_that_raised_is_cached_with_its_stage(cached_run):
    target = _partitioning_with(_raise)
    cold = by_executor(cached_run(ADD, target))["et_runtime"]
    warm = by_executor(cached_run(ADD, target))["et_runtime"]
    assert cold["stage"] == warm["stage"] == "lower" and "planted" in warm["message"]
    assert (cold["cache"]["lowering"], warm["cache"]["lowering"]) == ("miss", "hit")
    assert warm["outcome"] == cold["outcome"] == "fail"


def _raise(program):
    raise RuntimeError("planted partitioner failure")


def _time_out(program):
    raise StageTimeout("lower still running after 1 s: stopped (ETCONFORM_STAGE_TIMEOUT=lower=SECONDS to change)")


def test_a_lowering_stopped_by_its_timeout_is_not_cached_and_an_old_cached_one_is_not_trusted(cached_run):
    """A timeout says how busy the machine was: the next run must lower again, not replay the failure."""
    real = TARGETS["xnnpack_fp32"]
    first = by_executor(cached_run(ADD, _partitioning_with(_time_out)))["et_runtime"]
    assert first["stage"] == "lower" and "StageTimeout" in first["message"]
    assert cached_run.store.stats()["entries"] == 0
    # An entry an older version kept with the timeout, under the key of a lowering that now finishes.
    fine = by_executor(cached_run(ADD, real))["et_runtime"]
    assert fine["outcome"] == "pass"
    (folder,) = [p for p in cached_run.store.root.glob("??/*") if p.is_dir()]
    entry = cached_run.store.load(folder.name)
    entry.error = {"stage": "lower", "message": first["message"], "detail": ""}
    cached_run.store.store(entry)
    again = by_executor(cached_run(ADD, real))["et_runtime"]
    assert again["cache"]["lowering"] == "rebuilt: the cached lowering had timed out"
    assert again["outcome"] == "pass"


def test_two_writers_of_one_entry_leave_one_readable_entry(tmp_path):
    store = ArtifactCache(tmp_path)
    entry = cache_mod.Entry("ab" * 32, {"x": 1}, {}, b"pte", {"e": {"outputs": [torch.ones(2)], "latency": {},
                                                                     "estimate": {}, "notes": []}})
    store.store(entry)
    store.store(dataclasses.replace(entry, pte=b"pte2"))
    loaded = store.load("ab" * 32)
    assert loaded.note == "hit" and loaded.pte == b"pte2" and torch.equal(loaded.results["e"]["outputs"][0], torch.ones(2))
    assert [p.name for p in (tmp_path / "ab").iterdir()] == ["ab" * 32]


def test_keys_do_not_depend_on_where_the_checkout_is(tmp_path):
    """A clone elsewhere (CI, a second worktree) must find the entries this one wrote."""
    here = cache_mod.under_test("tosa")
    clone = tmp_path / "clone"
    shutil.copytree(Path(cache_mod.__file__).resolve().parents[2], clone,
                    ignore=shutil.ignore_patterns(".venv", ".git", "results", "__pycache__", "*.egg-info"))
    done = subprocess.run([sys.executable, "-c", "from etconform.lowering import cache; print(cache.under_test('tosa'))"],
                          cwd=clone, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(clone)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == here


def _key_in_child(env: dict[str, str], cwd: Path | None = None) -> str:
    """The key of one lowering as a fresh process on this machine makes it."""
    code = ("from etconform.lowering import cache; from etconform.targets import TARGETS; "
            "print(cache.case_key('d' * 64, TARGETS['tosa_int']))")
    root = Path(cache_mod.__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd or root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(root), **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_an_environment_that_can_change_a_result_changes_the_key(tmp_path, monkeypatch):
    """A fault switched on by a variable (LD_PRELOAD, a debug switch of the stack) must not replay a clean pass.
    The environment is read at each key (cache.environment), so this process's own serves to show it."""
    def key() -> str:
        return cache_mod.case_key("d" * 64, TARGETS["tosa_int"])

    clean = key()
    monkeypatch.setenv("LD_PRELOAD", str(tmp_path / "fault.so"))
    assert key() != clean
    monkeypatch.delenv("LD_PRELOAD")
    monkeypatch.setenv("EXECUTORCH_PLANTED_FAULT", "1")
    assert key() != clean
    monkeypatch.delenv("EXECUTORCH_PLANTED_FAULT")
    assert key() == clean
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    monkeypatch.setenv("COLUMNS", "33")
    assert key() == clean  # bookkeeping only


def test_a_package_shadowing_the_system_under_test_changes_the_key(tmp_path):
    """A folder earlier on sys.path (or an editable checkout) that provides `ethosu` is what runs: it enters the key."""
    clean = _key_in_child({})
    shadow = tmp_path / "shadow"
    (shadow / "ethosu").mkdir(parents=True)
    (shadow / "ethosu" / "__init__.py").write_text("PLANTED = True\n")
    root = Path(cache_mod.__file__).resolve().parents[2]
    shadowed = _key_in_child({"PYTHONPATH": f"{shadow}{os.pathsep}{root}"})
    assert shadowed != clean
    (shadow / "ethosu" / "__init__.py").write_text("PLANTED = False\n")
    assert _key_in_child({"PYTHONPATH": f"{shadow}{os.pathsep}{root}"}) not in (clean, shadowed)


def test_a_native_file_rewritten_with_its_size_and_mtime_restored_changes_its_digest(tmp_path):
    """What `cp -p`, `rsync -a` and SOURCE_DATE_EPOCH builds do: same size, same mtime, other bytes."""
    import hashlib
    import time

    lib = tmp_path / "libplanted.so"
    lib.write_bytes(b"A" * 64)
    st = lib.stat()

    def digest() -> str:
        h = hashlib.sha256()
        cache_mod._digest_files([lib], h, tmp_path)
        return h.hexdigest()

    before = digest()
    time.sleep(0.01)
    lib.write_bytes(b"B" * 64)
    os.utime(lib, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert lib.stat().st_size == st.st_size and lib.stat().st_mtime_ns == st.st_mtime_ns
    assert digest() != before


def test_the_cpu_flags_enter_the_key(monkeypatch):
    """XNNPACK picks kernels by instruction set: an entry filled on another CPU is not this one's."""
    base = case_key("d" * 64, TARGETS["xnnpack_int8"])
    monkeypatch.setattr(cache_mod, "_cpu_flags", lambda: "sse2")
    assert case_key("d" * 64, TARGETS["xnnpack_int8"]) != base


def test_a_cache_audit_catches_a_fault_the_key_cannot_see(tmp_path, monkeypatch):
    """A clean run fills the cache; a fault the key does not see (patched here, with the salt held fixed) would
    replay the clean pass. An audited hit lowers and runs afresh and fails on the difference."""
    import numpy as np

    from executors import tosa_ref

    writer = RecordWriter(tmp_path / "results", "selftest")

    def run(audit: float):
        store = ArtifactCache(tmp_path / "cache", audit)
        return run_case(ADD, TARGETS["tosa_int"], tmp_path / "results", writer, 0, "selftest", None, store, "fixed")

    assert by_executor(run(0.0))["tosa_ref"]["outcome"] == "pass"
    real = tosa_ref.run_tosa
    monkeypatch.setattr(tosa_ref, "run_tosa", lambda *a, **k: [np.clip(o.astype(np.int32) + 3, -128, 127).astype(o.dtype)
                                                                for o in real(*a, **k)])
    replayed = by_executor(run(0.0))["tosa_ref"]
    assert replayed["cache"]["outputs"] == "cached" and replayed["outcome"] == "pass"  # what the audit is for
    audited = by_executor(run(1.0))["tosa_ref"]
    assert audited["outcome"] == "mismatch"
    assert any(f["check"] == "vs_cache" and "kept outputs differ from a fresh lowering and run" in f["message"]
               for f in audited["findings"])


def test_the_audited_share_is_the_same_keys_every_run():
    store = ArtifactCache(Path("/nonexistent"), 0.25)
    keys = [f"{i:08x}" + "0" * 56 for i in range(0, 16**8, 16**8 // 1000)]
    picked = [k for k in keys if store.audits(k)]
    assert 0.2 < len(picked) / len(keys) < 0.3 and picked == [k for k in keys if store.audits(k)]
    assert not any(ArtifactCache(Path("/nonexistent"), 0.0).audits(k) for k in keys)


def test_what_a_plugin_of_the_tests_imports_enters_the_key(monkeypatch):
    """-p tests.faults.planted patches through tests/faults/sut.py: an edit there must change the key too."""
    import tests.faults.sut as sut

    with_sut = cache_mod.in_process([])
    monkeypatch.delitem(sys.modules, "tests.faults.sut")
    assert cache_mod.in_process([]) != with_sut
    monkeypatch.setitem(sys.modules, "tests.faults.sut", sut)
    assert cache_mod.in_process([]) == with_sut
