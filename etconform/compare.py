"""Error metrics and the verdict of one comparison."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from etconform.tolerances import Tolerance

SQNR_CAP_DB = 300.0  # an exact match reports the cap, so records stay plain JSON


@dataclass
class Verdict:
    ok: bool
    metrics: dict[str, Any]
    tolerance: dict[str, float]
    message: str = ""
    notes: list[str] = field(default_factory=list)


def flatten(outputs: Any) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, (list, tuple)):
        return [t for o in outputs for t in flatten(o)]
    if isinstance(outputs, dict):
        return [t for o in outputs.values() for t in flatten(o)]
    raise TypeError(f"cannot compare an output of type {type(outputs).__name__}")


def _both_nan(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.isnan(a) & torch.isnan(b)


def _finite_error(actual: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """|actual - ref|, 0 where both agree on NaN or on the same infinity, inf where they disagree."""
    err = (actual - ref).abs()
    same = _both_nan(actual, ref) | (actual == ref)
    err = torch.where(same, torch.zeros_like(err), err)
    return torch.nan_to_num(err, nan=math.inf)


def metrics(actual: list[torch.Tensor], reference: list[torch.Tensor]) -> dict[str, float]:
    a = torch.cat([t.detach().double().flatten() for t in actual])
    r = torch.cat([t.detach().double().flatten() for t in reference])
    err = _finite_error(a, r)
    finite = torch.isfinite(a) & torch.isfinite(r)
    noise = float(((a - r)[finite] ** 2).sum())
    signal = float((r[finite] ** 2).sum())
    if noise == 0.0:
        sqnr = SQNR_CAP_DB
    elif signal == 0.0:
        sqnr = -SQNR_CAP_DB
    else:
        sqnr = max(-SQNR_CAP_DB, min(SQNR_CAP_DB, 10 * math.log10(signal / noise)))
    na, nr = float(a[finite].norm()), float(r[finite].norm())
    cosine = 1.0 if na == nr == 0.0 else (float(a[finite] @ r[finite]) / (na * nr) if na and nr else 0.0)
    return {
        "max_abs_err": float(err.max()) if err.numel() else 0.0,
        "mean_abs_err": float(err.mean()) if err.numel() else 0.0,
        "sqnr_db": round(sqnr, 3),
        "cosine": round(cosine, 9),
    }


def _shape_problem(actual: list[torch.Tensor], reference: list[torch.Tensor]) -> str:
    if len(actual) != len(reference):
        return f"{len(actual)} outputs, expected {len(reference)}"
    for i, (a, r) in enumerate(zip(actual, reference)):
        if tuple(a.shape) != tuple(r.shape):
            return f"output {i} has shape {tuple(a.shape)}, expected {tuple(r.shape)}"
    return ""


def _worst(actual: list[torch.Tensor], reference: list[torch.Tensor], bounds: list[torch.Tensor]) -> str:
    """Where the error exceeds its bound the most, as a readable sentence."""
    worst = (-math.inf, "")
    for i, (a, r, b) in enumerate(zip(actual, reference, bounds)):
        excess = _finite_error(a.double(), r.double()) - b
        if excess.numel() == 0:
            continue
        j = int(excess.flatten().argmax())
        if float(excess.flatten()[j]) > worst[0]:
            index = tuple(int(k) for k in torch.unravel_index(torch.tensor(j), a.shape))
            got, want = float(a.flatten()[j]), float(r.flatten()[j])
            worst = (float(excess.flatten()[j]), f"output {i}{list(index)}: got {got:.6g}, expected {want:.6g}")
    return worst[1]


def compare_float(actual: Any, reference: Any, tolerance: Tolerance, what: str = "eager") -> Verdict:
    a, r = flatten(actual), flatten(reference)
    bounds_dict = tolerance.as_dict(quantized=False)
    problem = _shape_problem(a, r)
    if problem:
        return Verdict(False, {}, bounds_dict, f"vs {what}: {problem}")
    bounds = [tolerance.atol + tolerance.rtol * t.double().abs().nan_to_num(posinf=0, neginf=0) for t in r]
    ok = all(bool((_finite_error(x.double(), y.double()) <= b).all()) for x, y, b in zip(a, r, bounds))
    m = metrics(a, r)
    message = "" if ok else f"vs {what}: max abs err {m['max_abs_err']:.3g} > atol {tolerance.atol:g} + rtol {tolerance.rtol:g}*|ref| at {_worst(a, r, bounds)}"
    return Verdict(ok, m, bounds_dict, message)


def _compare_unquantized_outputs(
    a: list[torch.Tensor], quantized_ref: Any | None, e: list[torch.Tensor], tolerance: Tolerance,
    eager_on_rounded_inputs: Any | None, quantized_inside: bool,
) -> Verdict:
    """Outputs the quantizer left in float: there is no output step to count errors in.

    Against eager on the same rounded inputs first, at the float tolerance (a bool from a
    comparison, an index, a graph left all float). A float output computed from quantized
    intermediates (softsign's division, lp_pool's power) carries their rounding with no
    step to measure it in: it is then held to SQNR instead, against eager and (a lowered
    program) against quantized eager, which shares its intermediate rounding.
    """
    reference = e if eager_on_rounded_inputs is None else flatten(eager_on_rounded_inputs)
    verdict = compare_float(a, reference, tolerance, "eager on rounded inputs" if reference is not e else "eager")
    if verdict.ok or not quantized_inside or not all(t.is_floating_point() for t in a):
        verdict.notes.append("output not quantized: float tolerance used")
        if quantized_ref is not None:  # whether the lowering or the quantization is off
            same = compare_float(a, flatten(quantized_ref), tolerance, "quantized eager")
            verdict.metrics["max_abs_err_vs_quantized"] = same.metrics.get("max_abs_err", 0.0)
            verdict.metrics["matches_quantized"] = same.ok
        return verdict
    limits = {"float_output_min_sqnr_db": tolerance.float_output_min_sqnr_db}
    m, failures = verdict.metrics, []
    if m["sqnr_db"] < tolerance.float_output_min_sqnr_db:
        failures.append(f"vs eager on rounded inputs: SQNR {m['sqnr_db']:.1f} dB < {tolerance.float_output_min_sqnr_db:g}")
    if quantized_ref is not None:
        vs_q = metrics(a, flatten(quantized_ref))
        m["sqnr_db_vs_quantized"], m["max_abs_err_vs_quantized"] = vs_q["sqnr_db"], vs_q["max_abs_err"]
        limits["float_output_min_sqnr_db_vs_quantized"] = tolerance.float_output_min_sqnr_db_vs_quantized
        m["matches_quantized"] = vs_q["sqnr_db"] >= tolerance.float_output_min_sqnr_db_vs_quantized
        if not m["matches_quantized"]:
            failures.append(f"vs quantized eager: SQNR {vs_q['sqnr_db']:.1f} dB < {tolerance.float_output_min_sqnr_db_vs_quantized:g}")
    note = "float output of quantized intermediates: held to SQNR (no output step)"
    return Verdict(not failures, m, limits, "; ".join(failures), [note])


def compare_quantized(
    actual: Any,
    quantized_ref: Any | None,
    eager: Any,
    scales: list[float | None],
    tolerance: Tolerance,
    eager_on_rounded_inputs: Any | None = None,
    quantized_inside: bool = False,
) -> Verdict:
    """Against quantized eager in output steps, then against float eager with the looser bound.

    The bound against eager is elementwise float_qtol_steps * scale plus what rounding
    the inputs to their quantization grid changes in eager's own output
    (|eager(rounded inputs) - eager(inputs)|), so an operator with a steep slope is not
    blamed for the precision of its inputs. With `quantized_ref` None (the quantized
    eager program itself), only the second check.
    """
    a, e = flatten(actual), flatten(eager)
    tol = tolerance.as_dict(quantized=True)
    problem = _shape_problem(a, e)
    if problem:
        return Verdict(False, {}, tol, f"vs eager: {problem}")
    if len(scales) != len(a) or any(s is None for s in scales):
        return _compare_unquantized_outputs(a, quantized_ref, e, tolerance, eager_on_rounded_inputs, quantized_inside)
    steps = [torch.tensor(float(s), dtype=torch.float64) for s in scales]
    rounding = [torch.zeros((), dtype=torch.float64)] * len(a)
    if eager_on_rounded_inputs is not None:
        rounding = [_finite_error(r.double(), x.double()) for r, x in zip(flatten(eager_on_rounded_inputs), e)]
    m = metrics(a, e)
    errors = [_finite_error(x.double(), y.double()) for x, y in zip(a, e)]
    m["max_err_qsteps_vs_eager"] = round(max(float((err / s).max()) for err, s in zip(errors, steps)), 4)
    m["input_rounding_qsteps"] = round(max(float((r / s).max()) for r, s in zip(rounding, steps)), 4)
    unexplained = max(float(((err - r) / s).max()) for err, r, s in zip(errors, rounding, steps))
    m["unexplained_qsteps_vs_eager"] = round(max(unexplained, 0.0), 4)
    tol["output_scale"] = float(min(scales))  # type: ignore[type-var]
    failures = []
    if quantized_ref is not None:
        q = flatten(quantized_ref)
        m["max_err_qsteps"] = round(max(float((_finite_error(x.double(), y.double()) / s).max()) for x, y, s in zip(a, q, steps)), 4)
        if m["max_err_qsteps"] > tolerance.qtol_steps:
            bounds = [tolerance.qtol_steps * s for s in steps]
            failures.append(f"vs quantized eager: {m['max_err_qsteps']:.3g} steps > {tolerance.qtol_steps:g} at {_worst(a, q, bounds)}")
    if m["unexplained_qsteps_vs_eager"] > tolerance.float_qtol_steps:
        bounds = [tolerance.float_qtol_steps * s + r for s, r in zip(steps, rounding)]
        failures.append(
            f"vs eager: {m['unexplained_qsteps_vs_eager']:.3g} steps beyond input rounding "
            f"> {tolerance.float_qtol_steps:g} at {_worst(a, e, bounds)}"
        )
    return Verdict(not failures, m, tol, "; ".join(failures))


def _agreement(actual: list[torch.Tensor], reference: list[torch.Tensor], k: int) -> float:
    """Share of rows whose reference argmax is among the actual top-k (last dim = classes)."""
    hits = total = 0
    for a, r in zip(actual, reference):
        a2, r2 = a.reshape(-1, a.shape[-1]).float(), r.reshape(-1, r.shape[-1]).float()
        top = a2.topk(min(k, a2.shape[-1]), dim=-1).indices
        hits += int((top == r2.argmax(-1, keepdim=True)).any(-1).sum())
        total += a2.shape[0]
    return hits / total if total else 1.0


def _kl(actual: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """Mean KL(reference || actual) of the softmax distributions over the last dim."""
    values = []
    for a, r in zip(actual, reference):
        p = torch.log_softmax(r.double(), -1)
        q = torch.log_softmax(a.double(), -1)
        values.append((p.exp() * (p - q)).sum(-1).mean())
    return float(torch.stack(values).mean()) if values else 0.0


def compare_model(actual: Any, eager: Any, quantized_ref: Any | None, kind: str, quantized: bool, tolerance: Tolerance) -> Verdict:
    """Aggregate metrics over every evaluation sample, against the model's thresholds."""
    a, e = flatten(actual), flatten(eager)
    limits = tolerance.model_dict(quantized)
    problem = _shape_problem(a, e)
    if problem:
        return Verdict(False, {}, limits, f"vs eager: {problem}")
    m = metrics(a, e)
    failures = []
    if m["cosine"] < limits["min_cosine"]:
        failures.append(f"cosine {m['cosine']:.5f} < {limits['min_cosine']}")
    if m["sqnr_db"] < limits["min_sqnr_db"]:
        failures.append(f"SQNR {m['sqnr_db']:.1f} dB < {limits['min_sqnr_db']}")
    if kind == "classifier":
        m["top1_agreement"] = round(_agreement(a, e, 1), 4)
        m["top5_agreement"] = round(_agreement(a, e, 5), 4)
        if m["top1_agreement"] < limits["min_top1_agreement"]:
            failures.append(f"top-1 agreement {m['top1_agreement']:.2f} < {limits['min_top1_agreement']}")
    if kind == "language_model":
        m["next_token_agreement"] = round(_agreement(a, e, 1), 4)
        m["kl_div"] = round(_kl(a, e), 6)
        if m["next_token_agreement"] < limits["min_next_token_agreement"]:
            failures.append(f"next-token agreement {m['next_token_agreement']:.2f} < {limits['min_next_token_agreement']}")
    if quantized_ref is not None:
        q = flatten(quantized_ref)
        vs_q = metrics(a, q)
        m["cosine_vs_quantized"], m["sqnr_db_vs_quantized"] = vs_q["cosine"], vs_q["sqnr_db"]
        if vs_q["cosine"] < limits["min_cosine_vs_quantized"]:
            failures.append(f"vs quantized eager: cosine {vs_q['cosine']:.5f} < {limits['min_cosine_vs_quantized']}")
    return Verdict(not failures, m, limits, "; ".join(failures))


def cross_check(verdict: Verdict, actual: Any, peer: Any, scales: list[float | None], tolerance: Tolerance, peer_name: str) -> Verdict:
    """Two executors of the same integer program (FVP and TOSA reference model): within qtol_steps.

    Adds max_err_qsteps_vs_<peer> to the verdict's metrics; a shape difference or an error
    beyond the bound fails it. An output with no step is held to the float tolerance.
    """
    a, p = flatten(actual), flatten(peer)
    problem = _shape_problem(a, p)
    if problem:
        verdict.ok, verdict.message = False, "; ".join(filter(None, [verdict.message, f"vs {peer_name}: {problem}"]))
        return verdict
    if len(scales) == len(a) and all(s is not None for s in scales):
        steps = [float(s) for s in scales]  # type: ignore[arg-type]
        worst = max(float((_finite_error(x.double(), y.double()) / s).max()) if x.numel() else 0.0 for x, y, s in zip(a, p, steps))
        verdict.metrics[f"max_err_qsteps_vs_{peer_name}"] = round(worst, 4)
        if worst > tolerance.qtol_steps:
            bounds = [torch.tensor(tolerance.qtol_steps * s, dtype=torch.float64) for s in steps]
            failure = f"vs {peer_name}: {worst:.3g} steps > {tolerance.qtol_steps:g} at {_worst(a, p, bounds)}"
            verdict.ok, verdict.message = False, "; ".join(filter(None, [verdict.message, failure]))
        return verdict
    against = compare_float(a, p, tolerance, peer_name)
    verdict.metrics[f"max_abs_err_vs_{peer_name}"] = against.metrics.get("max_abs_err", 0.0)
    if not against.ok:
        verdict.ok, verdict.message = False, "; ".join(filter(None, [verdict.message, against.message]))
    return verdict
