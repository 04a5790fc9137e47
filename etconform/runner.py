"""Runs one case on one target: eager golden, one lowering, every executor, one record each."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from etconform import explorer, tolerances
from etconform.cases import Case
from etconform.compare import Verdict, compare_float, compare_model, compare_quantized, cross_check, flatten
from etconform.expectations import Expectation
from etconform.lowering import Lowered, fake_quantize, lower
from etconform.records import RecordWriter, versions
from etconform.stages import Stage, StageError
from etconform.targets import Target
from reference import EXECUTORS, files
from reference.base import measure

log = logging.getLogger(__name__)
FAILING = ("mismatch", "fail", "error")
OPERATOR_TIMING = (1, 5)  # (warm-up runs, measured runs)
MODEL_TIMING = (3, 10)
REFERENCE_EXECUTORS = ("quantized_eager",)  # run PyTorch, not the lowered program


@dataclass
class CaseRun:
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["outcome"] in FAILING]

    @property
    def compared(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["outcome"] in ("pass", "fallback", "mismatch")]

    def summary(self) -> str:
        lines = []
        for r in self.records:
            what = f"{r['executor']}: {r['outcome']}"
            if r.get("stage"):
                what += f"@{r['stage']}"
            if r.get("message"):
                what += f" - {r['message']}"
            m = r.get("metrics") or {}
            shown = {k: m[k] for k in ("max_abs_err", "max_err_qsteps", "unexplained_qsteps_vs_eager", "sqnr_db", "cosine", "cosine_vs_quantized", "top1_agreement", "next_token_agreement", "kl_div") if k in m}
            if shown:
                what += f" {shown} tol={r.get('tolerance')}"
            lines.append(what)
        return "\n".join(lines)


def _base_record(case: Case, target: Target, executor: str, seed: int, test_id: str) -> dict[str, Any]:
    return {
        "case": case.id, "kind": case.kind, "subject": case.subject, "variant": case.variant,
        "target": target.name, "backend": target.backend, "executor": executor,
        "seed": case.seed(seed), "test_id": test_id, "versions": versions(),
        "stage": None, "message": "", "metrics": {}, "tolerance": {}, "delegation": {}, "latency": {},
    }


@dataclass
class References:
    golden: Any  # eager PyTorch on each sample
    on_rounded_inputs: Any = None  # eager PyTorch on the inputs rounded to their quantization grid
    quantized: Any = None  # the quantized eager program's outputs
    by_executor: dict[str, Any] = field(default_factory=dict)  # every executor's outputs, for cross-checks


def _fallback_reason(delegation: dict[str, Any]) -> str:
    ops = delegation["undelegated_ops"] or "no partition"
    rejected = {op: why for op, why in delegation.get("rejected", {}).items() if "quantize_per" not in op}
    reasons = "; ".join(f"{op}: {why}" for op, why in list(rejected.items())[:3])
    return f"on the CPU: {ops}" + (f" (partitioner: {reasons})" if reasons else "")


def _verdict(
    case: Case, target: Target, lowered: Lowered, executor: str, outputs: Any, refs: References, expect: Expectation
) -> Verdict:
    """Outputs and references are lists with one entry per evaluation sample."""
    tolerance = tolerances.resolve(case.tolerance, expect.tolerance)
    quantized_ref = None if executor in REFERENCE_EXECUTORS else refs.quantized
    if case.kind == "model":
        return compare_model(outputs, refs.golden, quantized_ref, case.metrics, target.quantized, tolerance)
    scales = lowered.output_scales * len(outputs)
    if not target.quantized:
        verdict = compare_float(outputs, refs.golden, tolerance)
    else:
        verdict = compare_quantized(outputs, quantized_ref, refs.golden, scales, tolerance, refs.on_rounded_inputs, lowered.quantized_inside)
    peer = getattr(EXECUTORS[executor], "cross_check", None) if executor in EXECUTORS else None
    if peer and peer in refs.by_executor:
        verdict = cross_check(verdict, outputs, refs.by_executor[peer], scales, tolerance, peer)
    return verdict


def _tensors(outputs: Any) -> list[torch.Tensor]:
    try:
        return flatten(outputs)
    except TypeError:
        return []


def run_case(
    case: Case,
    target: Target,
    results_dir: Path,
    writer: RecordWriter,
    seed: int,
    test_id: str,
    expect: Expectation | None = None,
) -> CaseRun:
    expect = expect or Expectation()
    run = CaseRun()
    workdir = results_dir / "artifacts" / target.name / case.id
    started = time.perf_counter()

    def emit(executor: str, outcome: str, **fields: Any) -> None:
        record = _base_record(case, target, executor, seed, test_id)
        record.update(outcome=outcome, **fields)
        if outcome in ("mismatch", "fail") and record["stage"] in expect.xfail_stages:
            record.update(outcome="xfail", expected=expect.xfail_reason)
        if expect.unsupported and outcome == "pass" and executor not in REFERENCE_EXECUTORS:
            record["unexpected_pass"] = f"fully delegated, but listed unsupported ({expect.unsupported})"
        record["seconds"] = round(time.perf_counter() - started, 3)
        writer.write(record)
        run.records.append(record)

    timing = MODEL_TIMING if case.kind == "model" else OPERATOR_TIMING
    try:
        built = case.build_all(seed)
        module, samples = built.module, built.samples
        with torch.no_grad():
            golden = [module(*sample) for sample in samples]
            _, eager_latency = measure(lambda: module(*samples[0]), *timing)
    except Exception as exc:  # noqa: BLE001 - the case itself is broken: the suite's error
        emit("eager", "error", stage=Stage.CASE.value, message=f"bad case, eager PyTorch raised {type(exc).__name__}: {exc}"[:1000])
        return run

    available = {name: EXECUTORS[name].probe(target) for name in target.executors}
    try:
        lowered = lower(module, samples[0], target, workdir, built.calibration)
    except StageError as err:
        for name, availability in available.items():
            if availability.ok:
                emit(name, "fail", stage=err.stage.value, message=err.message, detail=err.detail)
            else:
                emit(name, "skip", message=availability.reason)
        return run

    common = {
        "delegation": lowered.delegation,
        "artifacts": {"pte": str(lowered.pte_path.relative_to(results_dir)), "pte_bytes": len(lowered.pte)},
        "lowering_seconds": lowered.seconds,
    }
    refs = References(golden)
    if target.quantized and case.kind != "model":
        with torch.no_grad():
            refs.on_rounded_inputs = [module(*fake_quantize(s, lowered.input_qparams)) for s in samples]
    if case.weights is not None:
        common["weights"] = case.weights()
    if case.kind == "model":
        common["artifacts"]["explorer"] = _explorer(explorer.write_placement, lowered.pte_path, results_dir)
    for name, availability in available.items():
        executor = EXECUTORS[name]
        if not availability.ok:
            emit(name, "skip", message=availability.reason, **common)
            continue
        try:
            # The first sample is timed; the others only run. Estimators run once.
            result = executor.run(lowered, samples[0], timing)
            outputs = [result.outputs]
            if executor.compares:
                outputs += [executor.run(lowered, s, (0, 1)).outputs for s in samples[1:]]
        except StageError as err:
            emit(name, "fail", stage=err.stage.value, message=err.message, detail=err.detail, **common)
            continue
        if name == "quantized_eager":
            refs.quantized = outputs
        if executor.compares:
            refs.by_executor[name] = outputs
            for sample, out in zip(samples, outputs):
                files.save_outputs(workdir / "outputs" / name, sample, _tensors(out))
        if not executor.compares:
            emit(name, "info", message="; ".join(result.notes), estimate=result.estimate, latency=result.latency, **common)
            continue
        try:
            verdict = _verdict(case, target, lowered, name, outputs, refs, expect)
        except Exception as exc:  # noqa: BLE001 - a comparison that cannot be made is a failure at COMPARE
            emit(name, "fail", stage=Stage.COMPARE.value, message=f"{type(exc).__name__}: {exc}", **common)
            continue
        ran_lowered = name not in REFERENCE_EXECUTORS
        if not verdict.ok:
            outcome = "mismatch"
        elif ran_lowered and not lowered.fully_delegated:
            outcome = "fallback"
        else:
            outcome = "pass"
        message = "; ".join(filter(None, [verdict.message, *result.notes, *verdict.notes]))
        if outcome == "fallback":
            message = "; ".join(filter(None, [_fallback_reason(lowered.delegation), message]))
        latency = {**result.latency, "eager_median_ms": eager_latency["median_ms"]} if result.latency.get("runs", 0) > 1 else result.latency
        extra = {"estimate": result.estimate} if result.estimate else {}
        emit(name, outcome, stage=Stage.COMPARE.value if outcome == "mismatch" else None, message=message,
             metrics=verdict.metrics, tolerance=verdict.tolerance, latency=latency, **extra, **common)
    if case.kind == "model":
        _explorer(explorer.write_error, lowered.pte_path, results_dir, run.records)
    return run


def _explorer(write: Any, pte_path: Path, results_dir: Path, *args: Any) -> str:
    """Model Explorer node data is a by-product: failing to write it must not fail the case."""
    try:
        path = write(pte_path, *args)
    except Exception as exc:  # noqa: BLE001
        log.warning("no Model Explorer node data for %s: %s", pte_path, exc)
        return ""
    return str(path.relative_to(results_dir)) if path else ""
