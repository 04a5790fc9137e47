"""Error metrics and the verdict of one comparison.

Every check fails closed: a NaN or infinity the reference does not have, a NaN bound
(a NaN scale or tolerance) and an output of another dtype all fail, so a green verdict
means the numbers were compared and were close. Comparisons are written
`not (value <= bound)` because `nan > bound` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from etconform.judging.tolerances import Tolerance

SQNR_CAP_DB = 300.0  # an exact match reports the cap, so records stay plain JSON


@dataclass
class Finding:
    check: str  # "vs_eager", "vs_quantized", "vs_peer" or "vs_labels"
    message: str  # one line, with the numbers and where


@dataclass
class Verdict:
    metrics: dict[str, Any]
    tolerance: dict[str, float]
    findings: list[Finding] = field(default_factory=list)  # the checks that failed
    checks: list[str] = field(default_factory=list)  # every check that ran
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def message(self) -> str:
        return "; ".join(f.message for f in self.findings)


def flatten(outputs: Any) -> list[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, (list, tuple)):
        return [t for o in outputs for t in flatten(o)]
    if isinstance(outputs, dict):
        return [t for o in outputs.values() for t in flatten(o)]
    raise TypeError(f"cannot compare an output of type {type(outputs).__name__}")


# -- elementwise errors ---------------------------------------------------------------


def _agree(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where a and b are equal, both NaN included (the same infinity is equal)."""
    return (torch.isnan(a) & torch.isnan(b)) | (a == b)


def _nonfinite_mask(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Where a NaN or infinity on one side is not matched on the other (NaN vs inf, +inf vs -inf)."""
    return (~torch.isfinite(a) | ~torch.isfinite(b)) & ~_agree(a, b)


def _finite_error(actual: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """|actual - ref|, 0 where both agree on NaN or on the same infinity, inf where they disagree."""
    err = (actual - ref).abs()
    err = torch.where(_agree(actual, ref), torch.zeros_like(err), err)
    return torch.nan_to_num(err, nan=math.inf)


def _signed_error(actual: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """actual - ref, 0 where both agree on NaN or on the same infinity (NaN or inf otherwise)."""
    err = actual - ref
    return torch.where(_agree(actual, ref), torch.zeros_like(err), err)


def _doubles(tensors: list[torch.Tensor]) -> torch.Tensor:
    if not tensors:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat([t.detach().double().flatten() for t in tensors])


def _numel(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() for t in tensors)


def _at(a: torch.Tensor, r: torch.Tensor, i: int, j: int) -> str:
    """Element j (flat) of output i, as a readable place and the two values."""
    index = [int(k) for k in torch.unravel_index(torch.tensor(j), a.shape)] if a.dim() else []
    got, want = float(a.flatten()[j]), float(r.flatten()[j])
    return f"output {i}{index}: got {got:.6g}, expected {want:.6g}"


# -- metrics --------------------------------------------------------------------------


def _sqnr_and_cosine(a: torch.Tensor, r: torch.Tensor) -> tuple[float, float]:
    """Over the finite elements (only called when the non-finite ones agree)."""
    finite = torch.isfinite(a) & torch.isfinite(r)
    a, r = a[finite], r[finite]
    noise, signal = float(((a - r) ** 2).sum()), float((r**2).sum())
    if noise == 0.0:
        sqnr = SQNR_CAP_DB
    elif signal == 0.0:
        sqnr = -SQNR_CAP_DB
    else:
        sqnr = max(-SQNR_CAP_DB, min(SQNR_CAP_DB, 10 * math.log10(signal / noise)))
    na, nr = float(a.norm()), float(r.norm())
    cosine = 1.0 if na == nr == 0.0 else (float(a @ r) / (na * nr) if na and nr else 0.0)
    return sqnr, cosine


def metrics(actual: list[torch.Tensor], reference: list[torch.Tensor]) -> dict[str, float]:
    """Errors over every element; a NaN or infinity the reference lacks sinks SQNR and cosine."""
    a, r = _doubles(actual), _doubles(reference)
    err = _finite_error(a, r)
    mismatches = int(_nonfinite_mask(a, r).sum())
    # Aggregates over the finite elements only would let 10% NaN pass at 300 dB.
    sqnr, cosine = (-SQNR_CAP_DB, 0.0) if mismatches else _sqnr_and_cosine(a, r)
    return {
        "max_abs_err": float(err.max()) if err.numel() else 0.0,
        "mean_abs_err": float(err.mean()) if err.numel() else 0.0,
        "sqnr_db": round(sqnr, 3),
        "cosine": round(cosine, 9),
        "nonfinite_mismatches": mismatches,
    }


# -- problems that stop or fail a comparison ------------------------------------------


def _shape_problem(actual: list[torch.Tensor], reference: list[torch.Tensor]) -> str:
    if len(actual) != len(reference):
        return f"{len(actual)} outputs, expected {len(reference)}"
    for i, (a, r) in enumerate(zip(actual, reference)):
        if tuple(a.shape) != tuple(r.shape):
            return f"output {i} has shape {tuple(a.shape)}, expected {tuple(r.shape)}"
    return ""


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _dtype_problem(actual: list[torch.Tensor], reference: list[torch.Tensor]) -> str:
    """A bool returned as 0.0/1.0 compares equal in value but is not the operator's output."""
    for i, (a, r) in enumerate(zip(actual, reference)):
        if a.dtype != r.dtype:
            return f"output {i} is {_dtype_name(a.dtype)}, expected {_dtype_name(r.dtype)}"
    return ""


def _nonfinite_finding(actual: list[torch.Tensor], reference: list[torch.Tensor], what: str, check: str) -> Finding | None:
    count, first = 0, ""
    for i, (a, r) in enumerate(zip(actual, reference)):
        mask = _nonfinite_mask(a.double(), r.double()).flatten()
        n = int(mask.sum())
        if n and not first:
            first = _at(a, r, i, int(mask.nonzero()[0]))
        count += n
    if not count:
        return None
    return Finding(check, f"vs {what}: {count} of {_numel(actual)} elements NaN/inf where the reference is not (or the reverse), first at {first}")


def _bad_step(steps: list[float]) -> str:
    """A step that is NaN, infinite, zero or negative would make any error look small."""
    for i, s in enumerate(steps):
        if not (0.0 < s < math.inf):
            return f"output {i} has step {s:g}, not a positive finite scale"
    return ""


def _worst(actual: list[torch.Tensor], reference: list[torch.Tensor], bounds: list[torch.Tensor]) -> tuple[int, str]:
    """Where the error exceeds its bound the most: (output, readable sentence)."""
    worst = (-math.inf, -1, "")
    for i, (a, r, b) in enumerate(zip(actual, reference, bounds)):
        excess = torch.nan_to_num(_finite_error(a.double(), r.double()) - b, nan=math.inf).flatten()
        if excess.numel() == 0:
            continue
        j = int(excess.argmax())
        if float(excess[j]) > worst[0]:
            worst = (float(excess[j]), i, _at(a, r, i, j))
    return worst[1], worst[2]


# -- float tolerance ------------------------------------------------------------------


def _float_bound(reference: torch.Tensor, tolerance: Tolerance) -> torch.Tensor:
    """max(atol * min(max|ref|, 1), atol_floor) + rtol * |ref|; 0 (exact) for integer and bool outputs.

    The absolute term shrinks with a small output (a softmax over 1000 classes) and never
    grows past atol: a large output must not loosen the bound (XNNPACK's erf GELU for
    approximate='tanh' is 4.7e-4 off on outputs of magnitude 5).
    """
    r = reference.detach().double()
    if not reference.is_floating_point():
        return torch.zeros_like(r)
    finite = r[torch.isfinite(r)].abs()
    magnitude = min(float(finite.max()), 1.0) if finite.numel() else 0.0
    # torch.maximum keeps a NaN tolerance NaN (Python's max would drop it): it must fail.
    absolute = torch.maximum(torch.tensor(tolerance.atol * magnitude, dtype=torch.float64),
                             torch.tensor(tolerance.atol_floor, dtype=torch.float64))
    return absolute + tolerance.rtol * r.abs().nan_to_num(nan=0.0, posinf=0.0, neginf=0.0)


def _float_findings(a: list[torch.Tensor], r: list[torch.Tensor], tolerance: Tolerance, what: str, check: str) -> list[Finding]:
    """Elementwise against the float bound; shapes already match."""
    nonfinite = _nonfinite_finding(a, r, what, check)
    if nonfinite:
        return [nonfinite]
    bounds = [_float_bound(t, tolerance) for t in r]
    within = [bool((_finite_error(x.double(), y.double()) <= b).all()) for x, y, b in zip(a, r, bounds)]
    if all(within):
        return []
    i, where = _worst(a, r, bounds)
    err = max(float(_finite_error(x.double(), y.double()).max()) for x, y in zip(a, r) if x.numel())
    rule = "exact (not a float output)" if not r[i].is_floating_point() else (
        f"atol {tolerance.atol:g}*min(max|ref|, 1) + rtol {tolerance.rtol:g}*|ref|")
    return [Finding(check, f"vs {what}: max abs err {err:.3g} beyond {rule} at {where}")]


def compare_float(actual: Any, reference: Any, tolerance: Tolerance, what: str = "eager", check: str = "vs_eager") -> Verdict:
    a, r = flatten(actual), flatten(reference)
    verdict = Verdict({}, tolerance.as_dict(quantized=False), checks=[check])
    problem = _shape_problem(a, r)
    if problem:
        verdict.findings.append(Finding(check, f"vs {what}: {problem}"))
        return verdict
    problem = _dtype_problem(a, r)
    if problem:
        verdict.findings.append(Finding(check, f"vs {what}: {problem}"))
    verdict.metrics = metrics(a, r)
    verdict.findings += _float_findings(a, r, tolerance, what, check)
    return verdict


# -- quantized targets ----------------------------------------------------------------


def _steps(eager: list[torch.Tensor], scales: list[float | None]) -> list[float] | None:
    """Each output's step, or None when some output has none (left in float, or integer: exact)."""
    if len(scales) != len(eager) or any(s is None for s in scales) or not all(t.is_floating_point() for t in eager):
        return None
    return [float(s) for s in scales]  # type: ignore[arg-type]


def _float32_resolution(a: list[torch.Tensor], ref: list[torch.Tensor], steps: list[float]) -> float:
    """The error, in steps, that float32 alone can show: both sides are dequantized to float32, so
    two grid values one step apart read as one step give or take one float32 ulp of their size.
    On an int8 grid that is 128 ulps of the step (1.5e-5 steps), on an int16 grid 0.004 steps."""
    found = 0.0
    for x, y, s in zip(a, ref, steps):
        finite = [t[torch.isfinite(t)] for t in (x, y) if t.is_floating_point() and t.numel()]
        size = max((float(t.abs().max()) for t in finite if t.numel()), default=0.0)
        found = max(found, size * float(torch.finfo(torch.float32).eps) / s)
    return found


def _step_findings(
    a: list[torch.Tensor], ref: list[torch.Tensor], steps: list[float], limit: float, tolerance: Tolerance,
    what: str, check: str, m: dict[str, Any], suffix: str,
) -> list[Finding]:
    """|a - ref| <= limit steps elementwise and |mean signed error| within the bias bound.

    Records max_err_qsteps<suffix> and mean_err_qsteps<suffix> in m.
    """
    errors = [(_finite_error(x.double(), y.double()) / s).flatten() for x, y, s in zip(a, ref, steps)]
    signed = torch.cat([(_signed_error(x.double(), y.double()) / s).flatten() for x, y, s in zip(a, ref, steps)])
    # Gate on the recorded values, rounded to 1e-4 steps: two float32 dequantizations of
    # grid values one step apart differ by 1 +- 1e-5 steps, and "1 steps > 1" says nothing.
    worst = round(float(torch.cat(errors).max()), 4) if signed.numel() else 0.0
    bias = round(float(signed.mean()), 4) if signed.numel() else 0.0
    rms = round(float(signed.pow(2).mean().sqrt()), 4) if signed.numel() else 0.0
    m[f"max_err_qsteps{suffix}"], m[f"mean_err_qsteps{suffix}"], m[f"rms_err_qsteps{suffix}"] = worst, bias, rms
    # Elements on another grid value than the reference's: half a step apart or more.
    off = int((torch.cat(errors) >= 0.5).sum()) if signed.numel() else 0
    m[f"elements_off{suffix}"], m[f"share_off{suffix}"] = off, round(off / signed.numel(), 6) if signed.numel() else 0.0
    nonfinite = _nonfinite_finding(a, ref, what, check)
    if nonfinite:
        return [nonfinite]
    findings = []
    if not worst <= limit + _float32_resolution(a, ref, steps):
        bounds = [torch.tensor(limit * s, dtype=torch.float64) for s in steps]
        findings.append(Finding(check, f"vs {what}: {worst:.3g} steps > {limit:g} at {_worst(a, ref, bounds)[1]}"))
    # A mean over a few elements is one element's error: gate bias on enough of them.
    # Against eager the output's own rounding may bias by up to half a step (values on few levels).
    bias_limit = tolerance.max_bias_qsteps if check in ("vs_quantized", "vs_peer") else tolerance.max_bias_qsteps_vs_rounded
    if signed.numel() >= tolerance.bias_min_elements and not abs(bias) <= bias_limit:
        findings.append(Finding(check, f"vs {what}: mean error {bias:+.2f} steps (bias) > {bias_limit:g}"))
    # The precision floor: against eager on the program's own inputs, rounding the output
    # alone leaves an RMS error of 0.29 steps; much more is precision lost inside.
    if check == "vs_eager" and signed.numel() >= tolerance.bias_min_elements and not rms <= tolerance.max_rms_qsteps_vs_rounded:
        findings.append(Finding(check, f"vs {what}: RMS error {rms:.2f} steps > {tolerance.max_rms_qsteps_vs_rounded:g} "
                                       f"(output rounding alone: 0.29): precision lost below what the grid allows"))
    return findings


def _compare_unquantized_outputs(
    a: list[torch.Tensor], q: list[torch.Tensor] | None, e: list[torch.Tensor], rounded: list[torch.Tensor],
    tolerance: Tolerance, quantized_inside: bool, findings: list[Finding],
) -> Verdict:
    """Outputs the quantizer left in float: there is no output step to count errors in.

    Against eager on the same rounded inputs first, at the float tolerance (a bool from a
    comparison, an index, a graph left all float; integer and bool outputs exact). A float
    output computed from quantized intermediates (softsign's division, lp_pool's power)
    carries their rounding with no step to measure it in: it is then held to SQNR instead,
    against eager and (a lowered program) against quantized eager, which shares its
    intermediate rounding. `findings` are those already found (a dtype).
    """
    what = "eager" if rounded is e else "eager on rounded inputs"
    float_failures = _float_findings(a, rounded, tolerance, what, "vs_eager")
    m = metrics(a, rounded)
    if not float_failures or not quantized_inside or not all(t.is_floating_point() for t in rounded):
        verdict = Verdict(m, tolerance.as_dict(quantized=False), findings + float_failures, ["vs_eager"])
        verdict.notes.append("output not quantized: float tolerance used")
        if q is not None:  # whether the lowering or the quantization is off
            m["max_abs_err_vs_quantized"] = metrics(a, q)["max_abs_err"]
            against_q = _float_findings(a, q, tolerance, "quantized eager", "vs_quantized")
            m["matches_quantized"] = not against_q
            if not any(t.is_floating_point() for t in q):  # integer and bool outputs: equal to quantized eager's
                verdict.checks.append("vs_quantized")
                verdict.findings += against_q
        return verdict
    limits = {"float_output_min_sqnr_db": tolerance.float_output_min_sqnr_db}
    note = "float output of quantized intermediates: held to SQNR (no output step)"
    verdict = Verdict(m, limits, findings, ["vs_eager"], [note])
    verdict.findings += _sqnr_findings(a, rounded, m, tolerance.float_output_min_sqnr_db, what, "vs_eager")
    if q is not None:
        verdict.checks.append("vs_quantized")
        vs_q = metrics(a, q)
        m["sqnr_db_vs_quantized"], m["max_abs_err_vs_quantized"] = vs_q["sqnr_db"], vs_q["max_abs_err"]
        limits["float_output_min_sqnr_db_vs_quantized"] = tolerance.float_output_min_sqnr_db_vs_quantized
        failures = _sqnr_findings(a, q, vs_q, tolerance.float_output_min_sqnr_db_vs_quantized, "quantized eager", "vs_quantized")
        m["matches_quantized"] = not failures
        verdict.findings += failures
    return verdict


def _sqnr_findings(a: list[torch.Tensor], ref: list[torch.Tensor], m: dict[str, Any], limit: float, what: str, check: str) -> list[Finding]:
    nonfinite = _nonfinite_finding(a, ref, what, check)
    if nonfinite:
        return [nonfinite]
    if not m["sqnr_db"] >= limit:
        return [Finding(check, f"vs {what}: SQNR {m['sqnr_db']:.1f} dB < {limit:g}")]
    return []


def compare_quantized(
    actual: Any,
    quantized_ref: Any | None,
    eager: Any,
    scales: list[float | None],
    tolerance: Tolerance,
    eager_on_rounded_inputs: Any | None = None,
    quantized_inside: bool = False,
    eager_scales: list[float | None] | None = None,
    grid_bounds: bool = True,
) -> Verdict:
    """Against quantized eager within qtol_steps, against eager on rounded inputs within float_qtol_steps.

    Both elementwise in output steps, plus a bound on the mean signed error (bias). Eager
    on rounded inputs (eager itself when not given) is what eager computes on the inputs
    the program sees; plain eager is kept for information (max_err_qsteps_vs_eager).
    With `quantized_ref` None (the quantized eager program itself), only the second check.
    `eager_scales`: the steps of the check against eager, when coarser than the output's
    (a16w8: the 8-bit weights' precision on the output's range); default `scales`.
    `grid_bounds` False: the bounds against eager on rounded inputs are measured, not gated
    (a case held to the ideal reference instead, etconform.judging.oracle).
    """
    a, e = flatten(actual), flatten(eager)
    rounded = e if eager_on_rounded_inputs is None else flatten(eager_on_rounded_inputs)
    q = None if quantized_ref is None else flatten(quantized_ref)
    tol = tolerance.as_dict(quantized=True)
    problem = _shape_problem(a, e) or _shape_problem(a, rounded)
    if problem:
        return Verdict({}, tol, [Finding("vs_eager", f"vs eager: {problem}")], ["vs_eager"])
    findings = []
    problem = _dtype_problem(a, e)
    if problem:
        findings.append(Finding("vs_eager", f"vs eager: {problem}"))
    if q is not None and _shape_problem(a, q):
        findings.append(Finding("vs_quantized", f"vs quantized eager: {_shape_problem(a, q)}"))
        q = None
    steps = _steps(e, scales)
    if steps is None:
        verdict = _compare_unquantized_outputs(a, q, e, rounded, tolerance, quantized_inside, findings)
        verdict.checks += [c for c in dict.fromkeys(f.check for f in findings) if c not in verdict.checks]
        return verdict
    verdict = Verdict(metrics(a, e), tol, findings, ["vs_eager"] + (["vs_quantized"] if quantized_ref is not None else []))
    m = verdict.metrics
    tol["output_scale"] = min(steps)
    m["max_err_qsteps_vs_eager"] = round(max((float((_finite_error(x.double(), y.double()) / s).max())
                                              for x, y, s in zip(a, e, steps) if x.numel()), default=0.0), 4)
    m["input_rounding_qsteps"] = round(max((float((_finite_error(x.double(), y.double()) / s).max())
                                            for x, y, s in zip(rounded, e, steps) if x.numel()), default=0.0), 4)
    bad = _bad_step(steps)
    if bad:
        verdict.findings += [Finding(check, f"vs {name}: {bad}") for check, name in
                             (("vs_quantized", "quantized eager"), ("vs_eager", "eager")) if check in verdict.checks]
        return verdict
    if q is not None:
        verdict.findings += _step_findings(a, q, steps, tolerance.qtol_steps, tolerance, "quantized eager", "vs_quantized", m, "")
    what = "eager" if rounded is e else "eager on rounded inputs"
    coarse = _steps(e, eager_scales) if eager_scales is not None else None
    if coarse is not None and coarse != steps:
        tol["eager_step"] = min(coarse)
        what += " (in steps of the weights' precision)"
    beyond = _step_findings(a, rounded, coarse or steps, tolerance.float_qtol_steps, tolerance, what, "vs_eager", m,
                            "_vs_rounded")
    if grid_bounds:
        verdict.findings += beyond
    else:  # a NaN or infinity plain eager lacks still fails here, by name
        nonfinite = _nonfinite_finding(a, e, "eager", "vs_eager")
        verdict.findings += [nonfinite] if nonfinite else []
    return verdict


# -- models ---------------------------------------------------------------------------


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


def _below(m: dict[str, Any], key: str, limit: float, label: str, what: str, check: str) -> list[Finding]:
    """A Finding when m[key] is not >= limit (NaN included)."""
    if m[key] >= limit:
        return []
    value = f"{m[key]:.1f} dB" if key.startswith("sqnr") else (f"{m[key]:.5f}" if key.startswith("cosine") else f"{m[key]:.2f}")
    return [Finding(check, f"vs {what}: {label} {value} < {limit}")]


def _accuracy(outputs: list[torch.Tensor], labels: list[int], k: int) -> float:
    """Share of samples whose true label is among the top-k classes (one output row per sample)."""
    rows = [o.reshape(-1, o.shape[-1])[-1].float() for o in outputs]
    if len(rows) != len(labels):
        raise ValueError(f"{len(rows)} outputs for {len(labels)} labels")
    hits = sum(int(label in row.topk(min(k, row.numel())).indices.tolist()) for row, label in zip(rows, labels))
    return hits / len(labels) if labels else 1.0


def _accuracy_findings(a: list[torch.Tensor], e: list[torch.Tensor], labels: list[int], m: dict[str, Any],
                       limits: dict[str, float]) -> list[Finding]:
    """Accuracy against the true labels, the program's and eager's, and what the program lost."""
    found = []
    for k in (1, 5):
        m[f"top{k}_accuracy"] = round(_accuracy(a, labels, k), 4)
        m[f"eager_top{k}_accuracy"] = round(_accuracy(e, labels, k), 4)
        lost = m[f"top{k}_accuracy_lost"] = round(m[f"eager_top{k}_accuracy"] - m[f"top{k}_accuracy"], 4)
        key = f"max_top{k}_accuracy_lost"
        if key in limits and not lost <= limits[key]:
            found.append(Finding("vs_labels", f"vs labels: top-{k} accuracy {m[f'top{k}_accuracy']:.2f} against "
                                              f"eager's {m[f'eager_top{k}_accuracy']:.2f} on {len(labels)} samples: "
                                              f"lost {lost:.2f} > {limits[key]}"))
    return found


def _token_nll(outputs: list[torch.Tensor], labels: list[list[int]]) -> tuple[float, float]:
    """Mean negative log-likelihood of the real text's next tokens, and the share predicted top-1."""
    nll = hits = total = 0.0
    if len(outputs) != len(labels):
        raise ValueError(f"{len(outputs)} outputs for {len(labels)} token sequences")
    for out, tokens in zip(outputs, labels):
        logits = out.reshape(-1, out.shape[-1]).double()
        target = torch.tensor(tokens)
        if logits.shape[0] != target.numel():
            raise ValueError(f"{logits.shape[0]} positions for {target.numel()} next tokens")
        nll += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        hits += int((logits.argmax(-1) == target).sum())
        total += target.numel()
    return nll / total, hits / total


def _text_findings(a: list[torch.Tensor], e: list[torch.Tensor], labels: list[list[int]], m: dict[str, Any],
                   limits: dict[str, float]) -> list[Finding]:
    """A language model on real text: perplexity and next-token accuracy against the text itself,
    the program's and eager's, and what the program lost (NaN logits give an infinite perplexity)."""
    nll, accuracy = _token_nll(a, labels)
    eager_nll, eager_accuracy = _token_nll(e, labels)
    m["perplexity"] = round(math.exp(nll), 4) if math.isfinite(nll) else float("inf")
    m["eager_perplexity"] = round(math.exp(eager_nll), 4)
    m["perplexity_ratio"] = round(math.exp(nll - eager_nll), 4) if math.isfinite(nll) else float("inf")
    m["top1_accuracy"], m["eager_top1_accuracy"] = round(accuracy, 4), round(eager_accuracy, 4)
    m["top1_accuracy_lost"] = round(eager_accuracy - accuracy, 4)
    found, words = [], f"on {sum(len(t) for t in labels)} tokens of real text"
    if "max_perplexity_ratio" in limits and not m["perplexity_ratio"] <= limits["max_perplexity_ratio"]:
        found.append(Finding("vs_labels", f"vs labels: perplexity {m['perplexity']:.3g} against eager's "
                                          f"{m['eager_perplexity']:.3g} {words}: ratio {m['perplexity_ratio']:.3g} > "
                                          f"{limits['max_perplexity_ratio']}"))
    if "max_top1_accuracy_lost" in limits and not m["top1_accuracy_lost"] <= limits["max_top1_accuracy_lost"]:
        found.append(Finding("vs_labels", f"vs labels: next-token accuracy {accuracy:.2f} against eager's "
                                          f"{eager_accuracy:.2f} {words}: lost {m['top1_accuracy_lost']:.2f} > "
                                          f"{limits['max_top1_accuracy_lost']}"))
    return found


def compare_model(actual: Any, eager: Any, quantized_ref: Any | None, kind: str, quantized: bool, tolerance: Tolerance,
                  labels: list[int] | list[list[int]] | None = None) -> Verdict:
    """Aggregate metrics over every evaluation sample, against the model's thresholds; with
    `labels` (one per sample), accuracy too, and the accuracy lost against eager."""
    a, e = flatten(actual), flatten(eager)
    limits = tolerance.model_dict(quantized)
    checks = ["vs_eager"] + (["vs_quantized"] if quantized_ref is not None else []) + (["vs_labels"] if labels else [])
    problem = _shape_problem(a, e)
    if problem:
        return Verdict({}, limits, [Finding("vs_eager", f"vs eager: {problem}")], checks)
    verdict = Verdict(metrics(a, e), limits, checks=checks)
    m = verdict.metrics
    problem = _dtype_problem(a, e)
    if problem:
        verdict.findings.append(Finding("vs_eager", f"vs eager: {problem}"))
    gates = [("cosine", limits["min_cosine"], "cosine"), ("sqnr_db", limits["min_sqnr_db"], "SQNR")]
    if kind == "classifier":
        m["top1_agreement"] = round(_agreement(a, e, 1), 4)
        m["top5_agreement"] = round(_agreement(a, e, 5), 4)
        gates.append(("top1_agreement", limits["min_top1_agreement"], "top-1 agreement"))
        if labels:
            verdict.findings += _accuracy_findings(a, e, labels, m, limits)
    if kind == "language_model":
        m["next_token_agreement"] = round(_agreement(a, e, 1), 4)
        m["kl_div"] = round(_kl(a, e), 6)
        gates.append(("next_token_agreement", limits["min_next_token_agreement"], "next-token agreement"))
        if "max_kl_div" in limits:
            verdict.findings += _above(m, "kl_div", limits["max_kl_div"], "KL", "eager", "vs_eager")
        if labels:
            verdict.findings += _text_findings(a, e, labels, m, limits)
    nonfinite = _nonfinite_finding(a, e, "eager", "vs_eager")
    if nonfinite:  # SQNR and cosine fail too; one finding says why
        verdict.findings.append(nonfinite)
    else:
        for key, limit, label in gates:
            verdict.findings += _below(m, key, limit, label, "eager", "vs_eager")
    if quantized_ref is not None:
        verdict.findings += _model_vs_quantized(a, flatten(quantized_ref), m, kind, limits)
    return verdict


def _above(m: dict[str, Any], key: str, limit: float, label: str, what: str, check: str) -> list[Finding]:
    """A Finding when m[key] is not <= limit (NaN included)."""
    if m[key] <= limit:
        return []
    return [Finding(check, f"vs {what}: {label} {m[key]:.4g} > {limit}")]


def _model_vs_quantized(a: list[torch.Tensor], q: list[torch.Tensor], m: dict[str, Any], kind: str,
                        limits: dict[str, float]) -> list[Finding]:
    """Where a lowering bug shows: the program against quantized eager, on every gate."""
    problem = _shape_problem(a, q)
    if problem:
        return [Finding("vs_quantized", f"vs quantized eager: {problem}")]
    vs_q = metrics(a, q)
    m["cosine_vs_quantized"], m["sqnr_db_vs_quantized"] = vs_q["cosine"], vs_q["sqnr_db"]
    nonfinite = _nonfinite_finding(a, q, "quantized eager", "vs_quantized")
    if nonfinite:
        return [nonfinite]
    found = _below(vs_q, "cosine", limits["min_cosine_vs_quantized"], "cosine", "quantized eager", "vs_quantized")
    if "min_sqnr_db_vs_quantized" in limits:
        found += _below(vs_q, "sqnr_db", limits["min_sqnr_db_vs_quantized"], "SQNR", "quantized eager", "vs_quantized")
    if kind in ("classifier", "language_model"):
        m["agreement_vs_quantized"] = round(_agreement(a, q, 1), 4)
        if "min_agreement_vs_quantized" in limits:
            found += _below(m, "agreement_vs_quantized", limits["min_agreement_vs_quantized"], "top-1 agreement",
                            "quantized eager", "vs_quantized")
    if kind == "language_model":
        m["kl_div_vs_quantized"] = round(_kl(a, q), 6)
        if "max_kl_div_vs_quantized" in limits:
            found += _above(m, "kl_div_vs_quantized", limits["max_kl_div_vs_quantized"], "KL", "quantized eager", "vs_quantized")
    return found


# -- cross-check between executors ----------------------------------------------------


def cross_check(verdict: Verdict, actual: Any, peer: Any, scales: list[float | None], tolerance: Tolerance, peer_name: str) -> Verdict:
    """Two executors of the same integer program (FVP and TOSA reference model): within qtol_steps.

    Adds check "vs_peer", max_err_qsteps_vs_<peer> and mean_err_qsteps_vs_<peer> (or
    max_abs_err_vs_<peer> for outputs with no step, held to the float tolerance) to the
    verdict; a shape or dtype difference, a NaN/inf the peer lacks, an error beyond the
    bound or a bias fails it.
    """
    a, p = flatten(actual), flatten(peer)
    verdict.checks.append("vs_peer")
    problem = _shape_problem(a, p) or _dtype_problem(a, p)
    if problem:
        verdict.findings.append(Finding("vs_peer", f"vs {peer_name}: {problem}"))
        if _shape_problem(a, p):
            return verdict
    steps = _steps(p, scales)
    if steps is None:
        verdict.metrics[f"max_abs_err_vs_{peer_name}"] = metrics(a, p)["max_abs_err"]
        verdict.findings += _float_findings(a, p, tolerance, peer_name, "vs_peer")
        return verdict
    bad = _bad_step(steps)
    if bad:
        verdict.findings.append(Finding("vs_peer", f"vs {peer_name}: {bad}"))
        return verdict
    verdict.findings += _step_findings(a, p, steps, tolerance.qtol_steps, tolerance, peer_name, "vs_peer",
                                       verdict.metrics, f"_vs_{peer_name}")
    return verdict
