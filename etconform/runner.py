"""Runs one case on one target: case -> eager -> lower -> execute -> compare -> record.

One lowering serves every executor; each executor gives one record. Lowering and running
(through the cache) are etconform.execute's; what a record's outcome is, and what the test's
is, etconform.policy decides.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils import _pytree as pytree

from etconform import explorer, oracle, policy, shared, tolerances
from etconform.cache import ArtifactCache
from etconform.cases import Built, Case, Unavailable
from etconform.compare import Finding, Verdict, compare_float, compare_model, compare_quantized, cross_check
from etconform.execute import audit, cache_field, lowering, run_executor, tensors
from etconform.expectations import Expectation
from etconform.ideal import ideal_outputs
from etconform.localize import Localizer
from etconform.lowering import Lowered, clamp_to_output_grid, fake_quantize
from etconform.records import Outcome, RecordWriter, new_record
from etconform.stages import Stage, StageError, allowing
from etconform.targets import Target
from models._thresholds import thresholds as model_thresholds
from reference import EXECUTORS, files
from reference.base import NotRunnable, measure

log = logging.getLogger(__name__)
OPERATOR_TIMING = (1, 5)  # (warm-up runs, measured runs)
MODEL_TIMING = (3, 10)
_ROLE_ORDER = {policy.REFERENCE: 0, policy.LOWERED: 1, policy.ESTIMATE: 2}
_SHOWN = ("max_abs_err", "max_err_qsteps", "max_err_qsteps_vs_rounded", "mean_err_qsteps", "sqnr_db", "cosine",
          "cosine_vs_quantized", "top1_agreement", "next_token_agreement", "kl_div", "top1_accuracy", "eager_top1_accuracy")


@dataclass
class CaseRun:
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["outcome"] in policy.FAILING]

    def summary(self) -> str:
        lines = []
        for r in self.records:
            what = f"{r['executor']}: {r['outcome']}" + (f"@{r['stage']}" if r.get("stage") else "")
            if r.get("message"):
                what += f" - {r['message']}"
            shown = {k: v for k, v in (r.get("metrics") or {}).items() if k in _SHOWN}
            if shown:
                what += f" {shown} tol={r.get('tolerance')}"
            lines.append(what)
        return "\n".join(lines)


@dataclass
class References:
    golden: list[Any]  # eager PyTorch on each sample
    labels: list[int] | None = None  # the true class of each sample (real data)
    on_rounded_inputs: list[Any] | None = None  # eager on the inputs the program sees, clamped to the output grid
    by_executor: dict[str, list[Any]] = field(default_factory=dict)  # every executor's outputs, for cross-checks
    ideal: list[Any] | Exception | None = None  # eager at the target's declared formats (etconform.ideal)


class _Recorder:
    """Builds one record per executor, has the policy decide it, writes and keeps it."""

    def __init__(self, case: Case, target: Target, seed: int, test_id: str, writer: RecordWriter, expect: Expectation):
        self.case, self.target, self.seed, self.test_id = case, target, seed, test_id
        self.writer, self.expect = writer, expect
        self.run = CaseRun()
        self.started = time.perf_counter()

    def judged(self, executor: str, findings: list[dict[str, str]], on_cpu: bool = False, **fields: Any) -> dict[str, Any]:
        """A record decided from its findings (etconform.policy.decide), not yet kept."""
        record = new_record(self.case, self.target, executor, self.seed, self.test_id, findings=findings, **fields)
        return policy.judged(record, self.expect, on_cpu)

    def plain(self, executor: str, outcome: Outcome, message: str, **fields: Any) -> None:
        """A record with nothing to judge: a skip, an estimate."""
        self.keep(new_record(self.case, self.target, executor, self.seed, self.test_id, outcome=outcome,
                             message=message, **fields))

    def keep(self, record: dict[str, Any]) -> None:
        record["seconds"] = round(time.perf_counter() - self.started, 3)
        self.writer.write(record)
        self.run.records.append(record)

    def failed(self, executor: str, err: StageError, also: list[dict[str, str]] | None = None, **fields: Any) -> None:
        """A stage raised; `also`: the lowering's own findings (partition, scales), which still count."""
        findings = [policy.finding(err.stage.value, "", err.message), *(also or [])]
        self.keep(self.judged(executor, findings, message="; ".join(f["message"] for f in findings),
                              detail=err.detail, **fields))


def _ordered(target: Target) -> list[str]:
    """References first, then the executors that run the lowered program (cross-checkers after their peers)."""
    return sorted(target.executors, key=lambda n: (_ROLE_ORDER[EXECUTORS[n].role], bool(getattr(EXECUTORS[n], "cross_check", None))))


def run_case(
    case: Case, target: Target, results_dir: Path, writer: RecordWriter, seed: int, test_id: str,
    expect: Expectation | None = None, cache: ArtifactCache | None = None, cache_salt: str = "",
    localize: bool = False,
) -> CaseRun:
    """`cache`: where lowerings and executor outputs are kept between runs (None: none);
    `cache_salt`: a digest of code loaded in this process that could patch the system under test;
    `localize`: find the first departing layer of every model (a mismatching model always is)."""
    with allowing(case.allowance(target)):
        return _run_case(case, target, results_dir, writer, seed, test_id, expect, cache, cache_salt, localize)


def _run_case(
    case: Case, target: Target, results_dir: Path, writer: RecordWriter, seed: int, test_id: str,
    expect: Expectation | None, cache: ArtifactCache | None, cache_salt: str, localize: bool,
) -> CaseRun:
    expect = expect or Expectation()
    recorder = _Recorder(case, target, seed, test_id, writer, expect)
    workdir = results_dir / "artifacts" / target.name / case.id
    timing = MODEL_TIMING if case.kind == "model" else OPERATOR_TIMING
    shared.starting()
    try:
        built = shared.built(case, seed)
    except Unavailable as exc:  # weights or data not installed: nothing to judge, say how to get them
        for name in _ordered(target):
            recorder.plain(name, Outcome.SKIP, str(exc), data=case.data)
        return recorder.run
    try:
        with torch.no_grad():
            # On copies: an op that writes into its input must not change what the executors are given.
            golden = [built.module(*shared.copied(sample)) for sample in built.samples]
            first = shared.copied(built.samples[0])
            _, eager_latency = measure(lambda: built.module(*first), *timing)
    except Exception as exc:  # noqa: BLE001 - the case itself is broken: the suite's error
        message = f"bad case, eager PyTorch raised {type(exc).__name__}: {exc}"[:1000]
        recorder.keep(recorder.judged("eager", [policy.finding(Stage.CASE, "", message)], message=message))
        return recorder.run

    for sample, out in zip(built.samples, golden):  # what a developer needs to reproduce it by hand
        files.save_inputs(workdir / "inputs", sample)
        files.save_outputs(workdir / "outputs" / "eager", sample, tensors(out))
    names = _ordered(target)
    available = {name: EXECUTORS[name].probe(target) for name in names}
    wanted = [n for n in names if available[n].ok]
    lowered, entry = lowering(case, seed, built, target, workdir, wanted, cache, cache_salt)
    if isinstance(lowered, StageError):
        for name in names:
            if available[name].ok:
                recorder.failed(name, lowered, cache=cache_field(entry, None))
            else:
                recorder.plain(name, Outcome.SKIP, available[name].reason)
        return recorder.run

    audited = audit(case, seed, built, target, workdir, entry, timing) if entry is not None and cache.audits(entry.key) \
        and entry.note == "hit" else {}
    refs = _references(case, target, built, golden, lowered)
    common = _shared_fields(case, lowered, results_dir, built)
    lowering_findings = [policy.finding(Stage.QUANTIZE, "scales", m) for m in (lowered.scales.findings if lowered.scales else [])]
    partition_findings = policy.delegation_findings(lowered.delegation, expect)
    localizer = Localizer(built, target, workdir, lowered.delegation)
    for name in names:
        executor = EXECUTORS[name]
        if not available[name].ok:
            recorder.plain(name, Outcome.SKIP, available[name].reason, **common)
            continue
        lowered_program = executor.role == policy.LOWERED
        from_lowering = lowering_findings + (partition_findings if lowered_program else [])
        try:
            result, outputs = run_executor(entry, executor, lowered, built.samples, timing)
        except NotRunnable as why:
            recorder.plain(name, Outcome.SKIP, str(why), **common, cache=cache_field(entry, name))
            continue
        except StageError as err:
            recorder.failed(name, err, from_lowering, **common, cache=cache_field(entry, name))
            continue
        fields = {**common, "cache": cache_field(entry, name)}
        if executor.role == policy.ESTIMATE:
            recorder.plain(name, Outcome.INFO, "; ".join(result.notes), estimate=result.estimate, latency=result.latency, **fields)
            continue
        refs.by_executor[name] = outputs
        for sample, out in zip(built.samples, outputs):
            files.save_outputs(workdir / "outputs" / name, sample, tensors(out))
        try:
            verdict = _verdict(case, target, lowered, name, outputs, refs, expect, case.seed(seed))
            _own_checks(verdict, result.checks, result.metrics)
        except Exception as exc:  # noqa: BLE001 - a comparison that cannot be made is a failure at COMPARE
            recorder.failed(name, StageError(Stage.COMPARE, f"{type(exc).__name__}: {exc}"), from_lowering, **fields)
            continue
        # The quantizer's own findings first: the outcome names them (etconform.policy.decide).
        compared = [policy.finding(Stage.COMPARE, f.check, f.message) for f in verdict.findings]
        findings = lowering_findings + compared + (partition_findings if lowered_program else [])
        findings += [policy.finding(Stage.COMPARE, "vs_cache", audited[name])] if name in audited else []
        on_cpu = lowered_program and bool(policy.on_the_cpu(lowered.delegation))
        latency = {**result.latency, "eager_median_ms": eager_latency["median_ms"]} if result.latency.get("runs", 0) > 1 else result.latency
        extra = {"estimate": result.estimate} if result.estimate else {}
        record = recorder.judged(name, findings, on_cpu, checks=verdict.checks, metrics=verdict.metrics,
                                 tolerance=verdict.tolerance, latency=latency, **extra, **fields,
                                 message="; ".join(filter(None, [*(f["message"] for f in findings), *result.notes,
                                                                 *verdict.notes])))
        if record["outcome"] == Outcome.FALLBACK:
            record["message"] = "; ".join(filter(None, [_fallback_reason(lowered.delegation, expect), record["message"]]))
        # A mismatch no known failure covers is localized unasked. A known one was diagnosed when it was
        # written down; localizing it again on every run would cost a second lowering each time (--localize does).
        if case.kind == "model" and lowered_program and (localize or record["outcome"] == Outcome.MISMATCH):
            record["localization"] = _localized(localizer, executor, refs.by_executor.get("quantized_eager"))
        recorder.keep(record)
    if entry is not None and entry.dirty:
        cache.store(entry)
    if case.kind == "model":
        _explorer(explorer.write_error, lowered.pte_path, results_dir, recorder.run.records)
        _explorer(explorer.write_layers, lowered.pte_path, results_dir, recorder.run.records)
    return recorder.run


def _localized(localizer: Localizer, executor: Any, quantized_outputs: list[Any] | None) -> dict[str, Any]:
    """A diagnosis, not a verdict: when it cannot be made the record says why, and the case's outcome stands."""
    try:
        return localizer.run(executor, quantized_outputs)
    except Exception as exc:  # noqa: BLE001
        log.warning("could not localize on %s: %s", executor.name, exc)
        return {"error": f"{type(exc).__name__}: {exc}"[:1000], "verdict": "first departure: not localized"}


def _references(case: Case, target: Target, built: Built, golden: list[Any], lowered: Lowered) -> References:
    refs = References(golden, built.labels)
    if target.rounds_to and case.kind != "model":
        with torch.no_grad():  # what the program sees and can represent: inputs and outputs in its float
            refs.on_rounded_inputs = [_in_float(built.module(*_in_float(shared.copied(s), target.rounds_to)), target.rounds_to)
                                      for s in built.samples]
    if target.quantized and case.kind != "model":
        with torch.no_grad():  # what the program sees: inputs on their grid, outputs within theirs
            refs.on_rounded_inputs = [
                clamp_to_output_grid(built.module(*fake_quantize(shared.copied(s), lowered.input_qparams)),
                                     lowered.output_qparams)
                for s in built.samples
            ]
    formats = target.formats
    if formats is not None and formats.static and case.kind != "model":
        try:  # a reference that cannot be made fails the check that needs it (etconform.oracle)
            refs.ideal = ideal_outputs(built.module, shared.copied(built.samples), shared.copied(built.calibration), formats)
        except Exception as exc:  # noqa: BLE001
            refs.ideal = exc
    return refs


def _in_float(tensors: Any, dtype: str) -> Any:
    """Floating tensors (any pytree of them) rounded to `dtype` and back to their own dtype."""
    narrow = getattr(torch, dtype)
    return pytree.tree_map(lambda t: t.to(narrow).to(t.dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t,
                           tensors)


def _shared_fields(case: Case, lowered: Lowered, results_dir: Path, built: Built) -> dict[str, Any]:
    """What every record of one lowering carries."""
    shared: dict[str, Any] = {
        "delegation": lowered.delegation,
        "artifacts": {"pte": str(lowered.pte_path.relative_to(results_dir)), "pte_bytes": len(lowered.pte)},
        "lowering_seconds": lowered.seconds,
        "scales": {"worst_ratio": lowered.scales.worst, "deliberate": lowered.scales.deliberate} if lowered.scales else {},
    }
    if case.dynamic:  # one lowering, run at every size
        shared["sizes"] = [[list(t.shape) for t in sample] for sample in built.samples]
    if case.weights is not None:
        shared["weights"] = case.weights()
    if case.data:
        shared["data"] = case.data
    if case.kind == "model":
        shared["artifacts"]["explorer"] = _explorer(explorer.write_placement, lowered.pte_path, results_dir)
    return shared


def _fallback_reason(delegation: dict[str, Any], expect: Expectation) -> str:
    ops = policy.on_the_cpu(delegation) or "no partition"
    return f"on the CPU as expected: {ops} ({expect.unsupported})"


def _verdict(
    case: Case, target: Target, lowered: Lowered, executor: str, outputs: list[Any], refs: References, expect: Expectation,
    seed: int,
) -> Verdict:
    """Outputs and references are lists with one entry per evaluation sample; `seed`: the case's own
    (etconform.cases.Case.seed), by which baselines are kept."""
    measured = model_thresholds(case.id, target.name) if case.kind == "model" else {}
    tolerance = tolerances.resolve(target.tolerance, case.tolerance, measured, expect.tolerance)
    role = EXECUTORS[executor].role
    quantized_ref = refs.by_executor.get("quantized_eager") if role == policy.LOWERED else None
    if case.kind == "model":
        return compare_model(outputs, refs.golden, quantized_ref, case.metrics, target.quantized, tolerance, refs.labels)
    scales = lowered.output_scales * len(outputs)
    if not target.quantized:
        rounded = refs.on_rounded_inputs is not None
        verdict = compare_float(outputs, refs.on_rounded_inputs if rounded else refs.golden, tolerance,
                                f"eager on {target.rounds_to} inputs" if rounded else "eager")
        if quantized_ref is not None:  # the program against its own eager module (fp16 eager)
            also = compare_float(outputs, quantized_ref, tolerance, f"{target.rounds_to} eager", "vs_quantized")
            verdict.checks += also.checks
            verdict.findings += also.findings
            verdict.metrics["max_abs_err_vs_quantized"] = also.metrics.get("max_abs_err")
    else:
        verdict = compare_quantized(outputs, quantized_ref, refs.golden, scales, tolerance, refs.on_rounded_inputs,
                                    lowered.quantized_inside, lowered.eager_scales * len(outputs),
                                    grid_bounds=oracle.grid_bounds_apply(expect, executor, seed))
    if target.formats is not None:
        oracle.hold_to_ideal(verdict, outputs, refs.golden, refs.ideal, target.formats.activation_bits, expect, executor, seed)
        oracle.hold_to_exactness(verdict, expect, executor, seed)
    peer = getattr(EXECUTORS[executor], "cross_check", None)
    if peer and peer in refs.by_executor:
        verdict = cross_check(verdict, outputs, refs.by_executor[peer], scales, tolerance, peer)
    return verdict


def _own_checks(verdict: Verdict, checks: dict[str, list[str]], metrics: dict[str, float]) -> None:
    """An executor's own comparisons (e.g. the stream against the TOSA reference model) join the verdict."""
    verdict.metrics.update(metrics)
    for check, disagreed in checks.items():
        verdict.checks.append(check)
        verdict.findings += [Finding(check, message) for message in disagreed]


def _explorer(write: Any, pte_path: Path, results_dir: Path, *args: Any) -> str:
    """Model Explorer node data is a by-product: failing to write it must not fail the case."""
    try:
        path = write(pte_path, *args)
    except Exception as exc:  # noqa: BLE001
        log.warning("no Model Explorer node data for %s: %s", pte_path, exc)
        return ""
    return str(path.relative_to(results_dir)) if path else ""
