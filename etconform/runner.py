"""Runs one case on one target: case -> eager -> lower -> execute -> compare -> record.

One lowering serves every executor; each executor gives one record. Lowering and running
(through the cache) are etconform.execute's; what a record's outcome is, and what the test's
is, etconform.judging.policy decides.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils import _pytree as pytree

from etconform.analysis import explorer
from etconform.analysis.localize import Localizer
from etconform.cases import Built, Case, Unavailable
from etconform.execute import audit, cache_field, lowering, run_executor, tensors
from etconform.judging import oracle, policy, tolerances
from etconform.judging.compare import Finding, Verdict, compare_float, compare_model, compare_quantized, cross_check
from etconform.judging.expectations import Expectation
from etconform.judging.ideal import ideal_outputs
from etconform.judging.thresholds import thresholds as model_thresholds
from etconform.lowering import shared
from etconform.lowering.cache import ArtifactCache
from etconform.lowering.pipeline import Lowered, clamp_to_output_grid, fake_quantize
from etconform.records import Outcome, RecordWriter, new_record
from etconform.stages import Stage, StageError, allowing
from etconform.targets import Target
from executors import EXECUTORS, files
from executors.base import NotRunnable, measure

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
    ideal: list[Any] | Exception | None = None  # eager at the target's declared formats (etconform.judging.ideal)


class _Recorder:
    """Builds one record per executor, has the policy decide it, writes and keeps it."""

    def __init__(self, case: Case, target: Target, seed: int, test_id: str, writer: RecordWriter, expect: Expectation):
        self.case, self.target, self.seed, self.test_id = case, target, seed, test_id
        self.writer, self.expect = writer, expect
        self.run = CaseRun()
        self.started = time.perf_counter()

    def judged(self, executor: str, findings: list[dict[str, str]], on_cpu: bool = False, **fields: Any) -> dict[str, Any]:
        """A record decided from its findings (etconform.judging.policy.decide), not yet kept."""
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
    return sorted(target.executors, key=lambda n: (_ROLE_ORDER[EXECUTORS[n].role], bool(EXECUTORS[n].cross_check)))


def run_case(
    case: Case, target: Target, results_dir: Path, writer: RecordWriter, seed: int, test_id: str,
    expect: Expectation | None = None, cache: ArtifactCache | None = None, cache_salt: str = "",
    localize: bool = False,
) -> CaseRun:
    """`cache`: where lowerings and executor outputs are kept between runs (None: none);
    `cache_salt`: a digest of code loaded in this process that could patch the system under test;
    `localize`: find the first departing layer of every model (a mismatching model always is)."""
    expect = expect or Expectation()
    run = _Run(case, target, results_dir, seed, expect, cache, cache_salt, localize,
               _Recorder(case, target, seed, test_id, writer, expect), results_dir / "artifacts" / target.name / case.id,
               MODEL_TIMING if case.kind == "model" else OPERATOR_TIMING)
    with allowing(case.allowance(target)):
        shared.starting()
        # Each stage returns False when it has recorded how the case ended.
        if _build(run) and _eager(run) and _lower(run):
            _execute(run)
            _finish(run)
    return run.recorder.run


@dataclass
class _Run:
    """One case on one target as it goes through the stages: what each stage left for the next."""
    case: Case
    target: Target
    results_dir: Path
    seed: int  # the run's base seed
    expect: Expectation
    cache: ArtifactCache | None
    cache_salt: str
    localize: bool
    recorder: _Recorder
    workdir: Path
    timing: tuple[int, int]
    built: Built | None = None
    golden: list[Any] = field(default_factory=list)
    eager_ms: float = 0.0
    names: list[str] = field(default_factory=list)
    available: dict[str, Any] = field(default_factory=dict)
    lowered: Lowered | None = None
    entry: Any = None  # the cache entry (etconform.lowering.cache.Entry), None without a cache


def _build(run: _Run) -> bool:
    """The case's module and inputs; weights or data not installed: every executor skips, saying how to get them."""
    try:
        run.built = shared.built(run.case, run.seed)
    except Unavailable as exc:
        for name in _ordered(run.target):
            run.recorder.plain(name, Outcome.SKIP, str(exc), data=run.case.data)
        return False
    return True


def _eager(run: _Run) -> bool:
    """Eager PyTorch on every sample, and its latency; a raise is the case's own bug (the suite's error)."""
    built = run.built
    try:
        with torch.no_grad():
            # On copies: an op that writes into its input must not change what the executors are given.
            run.golden = [built.module(*shared.copied(sample)) for sample in built.samples]
            first = shared.copied(built.samples[0])
            _, latency = measure(lambda: built.module(*first), *run.timing)
    except Exception as exc:  # noqa: BLE001
        message = f"bad case, eager PyTorch raised {type(exc).__name__}: {exc}"[:1000]
        run.recorder.keep(run.recorder.judged("eager", [policy.finding(Stage.CASE, "", message)], message=message))
        return False
    run.eager_ms = latency["median_ms"]
    for sample, out in zip(built.samples, run.golden):  # what a developer needs to reproduce it by hand
        files.save_inputs(run.workdir / "inputs", sample)
        files.save_outputs(run.workdir / "outputs" / "eager", sample, tensors(out))
    return True


def _lower(run: _Run) -> bool:
    """One lowering for every executor present (through the cache); a stage that raised fails each of them."""
    run.names = _ordered(run.target)
    run.available = {name: EXECUTORS[name].probe(run.target) for name in run.names}
    wanted = [n for n in run.names if run.available[n].ok]
    lowered, run.entry = lowering(run.case, run.seed, run.built, run.target, run.workdir, wanted, run.cache, run.cache_salt)
    if not isinstance(lowered, StageError):
        run.lowered = lowered
        return True
    for name in run.names:
        if run.available[name].ok:
            run.recorder.failed(name, lowered, cache=cache_field(run.entry, None))
        else:
            run.recorder.plain(name, Outcome.SKIP, run.available[name].reason)
    return False


@dataclass
class _Lowering:
    """What every executor of one lowering shares: references, record fields, the lowering's own findings."""
    refs: References
    common: dict[str, Any]
    audited: dict[str, str]  # executor -> how a re-run disagreed with its cached result (--cache-audit)
    quantize: list[dict[str, str]]  # the scales' findings: every record's
    partition: list[dict[str, str]]  # the partition contract's: the lowered program's records
    localizer: Localizer


def _execute(run: _Run) -> None:
    """Every executor in turn: references first, so the lowered program's are there to compare with."""
    case, lowered, entry = run.case, run.lowered, run.entry
    audited = audit(case, run.seed, run.built, run.target, run.workdir, entry, run.timing) \
        if entry is not None and run.cache.audits(entry.key) and entry.note == "hit" else {}
    shared_by_all = _Lowering(
        _references(case, run.target, run.built, run.golden, lowered),
        _shared_fields(case, lowered, run.results_dir, run.built), audited,
        [policy.finding(Stage.QUANTIZE, "scales", m) for m in (lowered.scales.findings if lowered.scales else [])],
        policy.delegation_findings(lowered.delegation, run.expect),
        Localizer(run.built, run.target, run.workdir, lowered.delegation))
    for name in run.names:
        _execute_one(run, name, shared_by_all)


def _execute_one(run: _Run, name: str, low: _Lowering) -> None:
    """One executor: skipped, failed at a stage, an estimate, or outputs to judge."""
    executor, recorder, entry = EXECUTORS[name], run.recorder, run.entry
    if not run.available[name].ok:
        recorder.plain(name, Outcome.SKIP, run.available[name].reason, **low.common)
        return
    from_lowering = low.quantize + (low.partition if executor.role == policy.LOWERED else [])
    try:
        result, outputs = run_executor(entry, executor, run.lowered, run.built.samples, run.timing)
    except NotRunnable as why:
        recorder.plain(name, Outcome.SKIP, str(why), **low.common, cache=cache_field(entry, name))
        return
    except StageError as err:
        recorder.failed(name, err, from_lowering, **low.common, cache=cache_field(entry, name))
        return
    fields = {**low.common, "cache": cache_field(entry, name)}  # after the run: whether the cache served it
    if executor.role == policy.ESTIMATE:
        recorder.plain(name, Outcome.INFO, "; ".join(result.notes), estimate=result.estimate, latency=result.latency, **fields)
        return
    low.refs.by_executor[name] = outputs
    for sample, out in zip(run.built.samples, outputs):
        files.save_outputs(run.workdir / "outputs" / name, sample, tensors(out))
    try:
        verdict = _verdict(run.case, run.target, run.lowered, name, outputs, low.refs, run.expect, run.case.seed(run.seed))
        _own_checks(verdict, result.checks, result.metrics)
    except Exception as exc:  # noqa: BLE001 - a comparison that cannot be made is a failure at COMPARE
        recorder.failed(name, StageError(Stage.COMPARE, f"{type(exc).__name__}: {exc}"), from_lowering, **fields)
        return
    recorder.keep(_judged(run, name, verdict, result, low, fields))


def _judged(run: _Run, name: str, verdict: Verdict, result: Any, low: _Lowering, fields: dict[str, Any]) -> dict[str, Any]:
    """The executor's record: the lowering's findings and the comparisons', decided by the policy."""
    lowered_program = EXECUTORS[name].role == policy.LOWERED
    # The quantizer's own findings first: the outcome names them (etconform.judging.policy.decide).
    compared = [policy.finding(Stage.COMPARE, f.check, f.message) for f in verdict.findings]
    findings = low.quantize + compared + (low.partition if lowered_program else [])
    findings += [policy.finding(Stage.COMPARE, "vs_cache", low.audited[name])] if name in low.audited else []
    on_cpu = lowered_program and bool(policy.on_the_cpu(run.lowered.delegation))
    latency = {**result.latency, "eager_median_ms": run.eager_ms} if result.latency.get("runs", 0) > 1 else result.latency
    extra = {"estimate": result.estimate} if result.estimate else {}
    record = run.recorder.judged(name, findings, on_cpu, checks=verdict.checks, metrics=verdict.metrics,
                                 tolerance=verdict.tolerance, latency=latency, **extra, **fields,
                                 message="; ".join(filter(None, [*(f["message"] for f in findings), *result.notes,
                                                                 *verdict.notes])))
    if record["outcome"] == Outcome.FALLBACK:
        record["message"] = "; ".join(filter(None, [_fallback_reason(run.lowered.delegation, run.expect), record["message"]]))
    # A mismatch no known failure covers is localized unasked. A known one was diagnosed when it was
    # written down; localizing it again on every run would cost a second lowering each time (--localize does).
    if run.case.kind == "model" and lowered_program and (run.localize or record["outcome"] == Outcome.MISMATCH):
        record["localization"] = _localized(low.localizer, EXECUTORS[name], low.refs.by_executor.get("quantized_eager"))
    return record


def _finish(run: _Run) -> None:
    """The cache entry stored; a model's Model Explorer files written."""
    if run.entry is not None and run.entry.dirty:
        run.cache.store(run.entry)
    if run.case.kind == "model":
        records = run.recorder.run.records
        _explorer(explorer.write_error, run.lowered.pte_path, run.results_dir, records)
        _explorer(explorer.write_layers, run.lowered.pte_path, run.results_dir, records)


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
        try:  # a reference that cannot be made fails the check that needs it (etconform.judging.oracle)
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
    peer = EXECUTORS[executor].cross_check
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
