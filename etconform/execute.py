"""Lowering and running, through the artifact cache: what a case's programs are and what executors return.

Everything here decides results, so its source enters every cache key (etconform.lowering.cache._HARNESS);
judging them (etconform.runner, compare, oracle, policy) is not cached and does not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from etconform.cases import Built, Case
from etconform.judging.compare import flatten
from etconform.lowering import shared
from etconform.lowering.cache import ArtifactCache, Entry, case_key, error_of
from etconform.lowering.pipeline import Lowered, lower
from etconform.stages import Stage, StageError
from etconform.targets import Target
from executors import EXECUTORS
from executors.base import ExecResult, NotRunnable

# Executor errors that say nothing about the program (a timeout, a killed child): never cached.
TRANSIENT = re.compile(r"did not finish|still running|SIGKILL|timed out")
ESTIMATE = "estimate"  # the role of executors that run once and compare nothing (etconform.judging.policy.Role)


def lowering(case: Case, seed: int, built: Built, target: Target, workdir: Path, wanted: list[str],
              cache: ArtifactCache | None, salt: str) -> tuple[Lowered | StageError, Entry | None]:
    """The lowering from the cache when an entry serves every wanted executor, else lowered now.
    The case's export is shared with its other targets in this worker (etconform.lowering.shared)."""
    entry = None
    digest = shared.export_digest(case, seed)
    if cache is not None and digest is not None:
        key = case_key(digest, target, salt)
        entry = cache.load(key)
        err = error_of(entry)
        if err is not None and TRANSIENT.search(err.message):  # kept by an older version: not trusted
            entry = Entry(key, note="rebuilt: the cached lowering had timed out")
        elif err is not None:
            return err, entry
        if entry.note == "hit":
            missing = [n for n in wanted if n not in entry.results and EXECUTORS[n].needs_graph]
            if not missing:
                return entry.restore(target, workdir), entry
            entry = Entry(key, note=f"rebuilt: no cached outputs of {', '.join(missing)}")
    try:
        lowered = lower(built.module, built.samples[0], target, workdir, built.calibration, shared.exported(case, seed),
                        dynamic_shapes=case.dynamic_shapes(built.samples[0]))
    except StageError as err:
        # A stage stopped by its timeout says how busy the machine was, not what the lowering does: not kept.
        if entry is not None and not TRANSIENT.search(err.message):
            entry.error = {"stage": err.stage.value, "message": err.message, "detail": err.detail}
            entry.dirty = True
            cache.store(entry)
        return err, entry
    if entry is not None:
        entry.keep(lowered)
        entry.dirty = True
    return lowered, entry


def audit(case: Case, seed: int, built: Built, target: Target, workdir: Path, entry: Entry,
           timing: tuple[int, int]) -> dict[str, str]:
    """Executor -> how its kept outputs differ from a fresh lowering and run ({}: none differs).
    A difference means the key missed something that changes a result (--cache-audit)."""
    why = "the cache key missed a change that alters results; run with --no-cache and report it"
    try:
        fresh = lower(built.module, built.samples[0], target, workdir / "audit", built.calibration,
                      shared.exported(case, seed), dynamic_shapes=case.dynamic_shapes(built.samples[0]))
    except StageError as err:
        return {name: f"cache audit: a fresh lowering fails at {err.stage.value} where the kept one did not: {why}"
                for name in entry.results}
    found = {}
    for name, kept in entry.results.items():
        if "outputs" not in kept:
            continue
        try:
            _, outputs = execute(EXECUTORS[name], fresh, built.samples, timing)
        except (StageError, NotRunnable) as exc:
            found[name] = f"cache audit: a fresh run of {name} raised where the kept one ran ({exc}): {why}"
            continue
        if not same(kept["outputs"], outputs):
            found[name] = f"cache audit: {name}'s kept outputs differ from a fresh lowering and run: {why}"
    return found


def same(a: Any, b: Any) -> bool:
    """Bit for bit, NaN where NaN."""
    x, y = tensors(a), tensors(b)

    def equal(s: torch.Tensor, t: torch.Tensor) -> bool:
        if s.shape != t.shape or s.dtype != t.dtype:
            return False
        if not s.is_floating_point():
            return torch.equal(s, t)
        nan = torch.isnan(s)
        return torch.equal(nan, torch.isnan(t)) and torch.equal(s[~nan], t[~nan])

    return len(x) == len(y) and all(equal(s, t) for s, t in zip(x, y))


def run_executor(entry: Entry | None, executor: Any, lowered: Lowered, samples: list[Any],
                    timing: tuple[int, int]) -> tuple[ExecResult, list[Any]]:
    """An executor's cached result when there is one; else it runs, and its result is kept if cacheable."""
    kept = entry.results.get(executor.name) if entry is not None else None
    if kept is not None:
        entry.served.add(executor.name)
        if "error" in kept:
            raise StageError(Stage(kept["error"]["stage"]), kept["error"]["message"], kept["error"]["detail"])
        if "skip" in kept:
            raise NotRunnable(kept["skip"])
        result = ExecResult(kept["outputs"][0], kept["latency"], kept["estimate"], kept["notes"], kept.get("checks", {}),
                            kept.get("metrics", {}))
        return result, kept["outputs"]
    cacheable = entry is not None and executor.cacheable
    try:
        result, outputs = execute(executor, lowered, samples, timing)
    except NotRunnable as why:
        if cacheable:
            entry.results[executor.name] = {"skip": str(why)}
            entry.dirty = True
        raise
    except StageError as err:
        if cacheable and not TRANSIENT.search(err.message):
            entry.results[executor.name] = {"error": {"stage": err.stage.value, "message": err.message, "detail": err.detail}}
            entry.dirty = True
        raise
    if cacheable:
        entry.results[executor.name] = {"outputs": outputs, "latency": result.latency, "estimate": result.estimate,
                                        "notes": result.notes, "checks": result.checks, "metrics": result.metrics}
        entry.dirty = True
    return result, outputs


def cache_field(entry: Entry | None, executor: str | None) -> dict[str, str]:
    """What a record says about the cache: the lowering's source, and whether the executor's outputs were cached."""
    if entry is None:
        return {"lowering": "off"}
    found = {"lowering": entry.note, "key": entry.key[:16]}
    if executor is not None:
        found["outputs"] = "cached" if executor in entry.served else "run"
    return found



def execute(executor: Any, lowered: Lowered, samples: list[Any], timing: tuple[int, int]) -> tuple[ExecResult, list[Any]]:
    """The first sample is timed; the others only run (their own checks count too). Estimators run once.
    Each executor gets copies of the inputs: a program that writes into its input changes no other's."""
    samples = shared.copied(samples)
    result = executor.run(lowered, samples[0], timing)
    outputs = [result.outputs]
    if executor.role != ESTIMATE:
        for sample in samples[1:]:
            more = executor.run(lowered, sample, (0, 1))
            outputs.append(more.outputs)
            for check, disagreed in more.checks.items():
                result.checks.setdefault(check, []).extend(m for m in disagreed if m not in result.checks[check])
            for name, value in more.metrics.items():
                result.metrics[name] = max(result.metrics.get(name, value), value)
    return result, outputs



def tensors(outputs: Any) -> list[torch.Tensor]:
    try:
        return flatten(outputs)
    except TypeError:
        return []
