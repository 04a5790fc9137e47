"""The qualification report, built from records alone: report.json, report.md, report.html.

The HTML page is self-contained (inline CSS, plots as inline PNG): it opens with no network.
"""

from __future__ import annotations

import base64
import collections
import json
import re
from pathlib import Path
from typing import Any

from etconform.analysis import matrix
from etconform.judging import policy
from etconform.records import Outcome, write_atomic

FAILING = policy.FAILING


EXECUTOR_NAMES = {"tosa_ref": "TOSA reference model", "stream": "command stream (functional model)", "vela": "Vela estimate", "fvp": "Corstone FVP",
                  "et_runtime": "ExecuTorch runtime", "quantized_eager": "quantized eager", "device": "board"}


def environment(records: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run as recorded while it ran; a report of records without run.json says it cannot tell."""
    from etconform.analysis.qualify import stack

    seeds = sorted({r.get("seed") for r in records if r.get("seed") is not None})
    machines = {json.dumps(run.get("machine"), sort_keys=True) for run in runs}
    return {"versions": stack(records), "runs": len(runs), "machines": [json.loads(m) for m in sorted(machines)],
            "case_seeds": f"{len(seeds)} distinct (per case, from the base seed)"}


def _what_ran(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """{target: ['TOSA reference model 620', 'Corstone FVP not run: no FVP (...), 620 skipped']}."""
    per: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    reasons: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        per[(r["target"], r["executor"])][Outcome.SKIP if r["outcome"] == Outcome.SKIP else "ran"] += 1
        if r["outcome"] == Outcome.SKIP:
            reasons[(r["target"], r["executor"])][clip(r.get("message") or "no reason given", 220)] += 1
    lines: dict[str, list[str]] = collections.defaultdict(list)
    for (target, executor), counts in sorted(per.items(), key=lambda kv: (kv[0][0], kv[1]["ran"] == 0, kv[0][1])):
        name = EXECUTOR_NAMES.get(executor, executor)
        why = reasons[(target, executor)].most_common(1)[0][0] if counts[Outcome.SKIP] else ""
        if not counts["ran"]:
            lines[target].append(f"{name} not run: {why} ({counts[Outcome.SKIP]} skipped)")
        elif counts[Outcome.SKIP]:
            lines[target].append(f"{name} {counts['ran']}, skipped {counts[Outcome.SKIP]} ({why})")
        else:
            lines[target].append(f"{name} {counts['ran']}")
    return dict(lines)


STREAM_LEVEL, STREAM_CHECK = "stream", "vs_tosa"  # executors/ethosu_stream.py: its level and its own check
_DELEGATE_INDEX = re.compile(r"\s*\(delegate \d+\)|delegate \d+ ")


def stream_coverage(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per target, of the cases with a delegate: how many ran their command stream on the functional model
    and agreed exactly with the TOSA reference model, how many differed, were skipped (and why) or failed."""
    per: dict[str, dict[str, Any]] = {}
    reasons: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for r in records:
        if r.get("level") != STREAM_LEVEL or not (r.get("delegation") or {}).get("partitions"):
            continue
        counts = per.setdefault(r["target"], {"with_delegate": 0, "agreed": 0, "mismatched": 0, "skipped": 0,
                                              "failed": 0})
        counts["with_delegate"] += 1
        if r["outcome"] == Outcome.SKIP:
            counts["skipped"] += 1
            reasons[r["target"]][_DELEGATE_INDEX.sub(" ", r.get("message") or "no reason given").strip()] += 1
        elif any(f.get("check") == STREAM_CHECK for f in r.get("findings") or []):
            counts["mismatched"] += 1
        elif STREAM_CHECK in (r.get("checks") or []):
            counts["agreed"] += 1
        else:
            counts["failed"] += 1
    for target, counts in per.items():
        counts["skip_reasons"] = [[clip(why, 160), n] for why, n in reasons[target].most_common(5)]
    return dict(sorted(per.items()))


def stream_line(counts: dict[str, Any]) -> str:
    """'12 of 14 cases with a delegate agreed exactly, 0 differed, 2 skipped (POOL MAX: 2)'."""
    skips = "; ".join(f"{why}: {n}" for why, n in counts["skip_reasons"])
    return (f"{counts['agreed']} of {counts['with_delegate']} cases with a delegate agreed exactly with the TOSA "
            f"reference model, {counts['mismatched']} differed, {counts['skipped']} skipped"
            + (f" ({skips})" if skips else "") + (f", {counts['failed']} failed" if counts["failed"] else ""))


def _latency_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for r in records:
        lat = r.get("latency") or {}
        if "median_ms" in lat and policy.role_of(r) == policy.LOWERED:
            rows.append({"case": r["case"], "kind": r["kind"], "target": r["target"], "executor": r["executor"],
                         "median_ms": lat["median_ms"], "p90_ms": lat.get("p90_ms"), "cv": lat.get("cv"),
                         "threads": lat.get("threads"), "eager_median_ms": lat.get("eager_median_ms")})
        if r["executor"] == "vela" and r.get("estimate"):
            est = r["estimate"]
            rows.append({"case": r["case"], "kind": r["kind"], "target": r["target"], "executor": "vela",
                         "median_ms": est.get("inference_time_ms"), "cycles": est.get("cycles_total"),
                         "macs": est.get("nn_macs"), "sram_kib": est.get("sram_memory_used"),
                         "flash_kib": est.get("off_chip_flash_memory_used")})
        if r["executor"] == "fvp" and (r.get("estimate") or {}).get("npu_cycles") is not None:
            est = r["estimate"]
            rows.append({"case": r["case"], "kind": r["kind"], "target": r["target"], "executor": "fvp",
                         "cycles": est["npu_cycles"], "cpu_cycles": est.get("cpu_cycles")})
    return rows


def verdict(records: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What the first screen says: new failures against known ones, and what the run did not do."""
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        grouped[(r["case"], r["target"])].append(r)
    counts: collections.Counter = collections.Counter()
    per_target: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    apart = _failed_on_expectations(grouped)
    for (case, target), group in grouped.items():
        outcome, stage = policy.case_outcome(group)
        key = "unexpected" if outcome in policy.UNEXPECTED or (case, target) in apart \
            else Outcome.XFAIL if outcome in policy.KNOWN else outcome
        counts["unexpected_expectations"] += (case, target) in apart
        per_target[target][key] += 1
        counts[key] += 1
        if outcome in policy.UNEXPECTED:
            counts[f"unexpected_{outcome}"] += 1
        counts["known_wrong_delegated"] += outcome == policy.WRONG_KNOWN
        counts["unexpected_fallback"] += outcome in FAILING and stage == "partition"
        counts["ran_nowhere"] += policy.verified_level(group) in ("", "quantization") and outcome in policy.AGREED
    caveats = [f"{len(apart)} case x targets failed on their expectations, not their records' outcomes: "
               + "; ".join(f"{c} on {t}: {why}" for (c, t), why in sorted(apart.items())[:5])] if apart else []
    partial = [run for run in runs if (run.get("selection") or {}).get("partial")]
    if partial:
        narrowed = "; ".join(" ".join(run["selection"]["narrowed_by"]) for run in partial)
        caveats.append(f"a partial run ({narrowed}): it qualifies what it selected, not the whole suite")
    ran = {f"{r.get('case')}-{r.get('target')}" for r in records}  # a merged heavy run has them
    heavy = sorted({t for run in runs for t in (run.get("selection") or {}).get("heavy_not_run") or []} - ran)
    if heavy:
        caveats.append(f"{len(heavy)} heavy test{'s' * (len(heavy) > 1)} not run ({', '.join(heavy)}): hours of lowering each; "
                       "-m heavy runs them, `etconform merge` joins their results")
    if not runs:
        caveats.append("no run.json: when, how and where these records were made is unknown")
    if counts["ran_nowhere"]:
        caveats.append(f"{counts['ran_nowhere']} case x targets were verified by no executor of the lowered program")
    caveats += _unverified_levels(records)
    caveats += _ungated(records)
    caveats += _older_drafts(records)
    if any(run.get("exit_status") not in (0, 1, None) for run in runs):
        caveats.append("the run did not finish normally (exit status "
                       + ", ".join(str(run.get("exit_status")) for run in runs) + ")")
    status = "FAIL" if counts["unexpected"] else "PASS"
    targets = {t: f"{'FAIL' if c['unexpected'] else 'PASS'}: {c['unexpected']} unexpected, {c[Outcome.XFAIL]} known, "
                  f"{c[Outcome.PASS]} passed, {c[Outcome.FALLBACK]} passed with expected CPU fallbacks, {c[Outcome.SKIP]} skipped"
               for t, c in sorted(per_target.items())}
    return {"status": status, "pairs": len(grouped), "counts": dict(counts), "caveats": caveats, "targets": targets}


def _ungated(records: list[dict[str, Any]]) -> list[str]:
    """The case x targets whose ideal gap was measured but held to no baseline (etconform.judging.oracle)."""
    measured: dict[str, set[str]] = collections.defaultdict(set)
    gated: dict[str, set[str]] = collections.defaultdict(set)
    for r in records:
        if "ideal_gap_db" in (r.get("metrics") or {}):
            measured[r["target"]].add(r["case"])
            if "ideal_gap_db" in (r.get("tolerance") or {}):
                gated[r["target"]].add(r["case"])
    loose = {t: len(cases - gated[t]) for t, cases in measured.items() if cases - gated[t]}
    if not loose:
        return []
    listed = ", ".join(f"{t} {n} of {len(measured[t])}" for t, n in sorted(loose.items()))
    return [f"accuracy against the ideal reference and exactness against quantized eager recorded but not gated, "
            f"no baseline ({listed}): `python -m etconform baselines TARGET RUN...` measures them from clean runs"]


def _failed_on_expectations(grouped: dict[tuple[str, str], list[dict[str, Any]]]) -> dict[tuple[str, str], str]:
    """The case x targets whose test failed although no record did: a known failure that did not
    happen (XPASS strict) or lost coverage, as etconform.judging.policy.judge decides with the expectations of
    the records' seed. The banner counts them, as pytest did."""
    from etconform.judging.expectations import ExpectationError, for_case
    from etconform.plugin.catalog import by_id
    from etconform.records import run_seed

    cases, found = by_id(), {}
    for (case, target), group in grouped.items():
        if case not in cases or any(r["outcome"] in FAILING for r in group):
            continue
        try:
            expect = for_case(target, cases[case], run_seed(group[0]))
        except (ExpectationError, KeyError):
            continue
        judgement = policy.judge(group, expect, "")
        if judgement.action == policy.Action.FAIL:
            found[(case, target)] = judgement.message.splitlines()[0][:300]  # its cause; the summary is empty
    return found


def _older_drafts(records: list[dict[str, Any]]) -> list[str]:
    """The run's case x targets whose expectations come from drafts older than whole-message patterns
    and CPU counts: they forgive more than a new draft would (etconform draft --update narrows them)."""
    from etconform.analysis.draft import whole
    from etconform.judging.expectations import ExpectationError, for_case
    from etconform.plugin.catalog import by_id

    cases = by_id()
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for case, target in sorted({(r["case"], r["target"]) for r in records}):
        if case not in cases:
            continue
        try:
            expect = for_case(target, cases[case], None)
        except ExpectationError:
            continue
        found[target]["first words"] += any(e.stage and not whole(e.message)
                                            for e in expect.xfail)
        found[target]["by name"] += bool(expect.cpu) and expect.cpu_counts is None
    said = [f"{t}: {c['first words']} by a message's first words, {c['by name']} CPU lists by name, not count"
            for t, c in sorted(found.items()) if c["first words"] or c["by name"]]
    return [f"expectations from older drafts cover some cases ({'; '.join(said)}): `python -m etconform draft RESULTS "
            "TARGET --update` from a run of them narrows them (whole messages, counts, partitions)"] if said else []


# Executors that run on the real NPU or a board: without them the NPU's arithmetic is not executed.
_DEVICE_EXECUTORS = ("fvp", "device")


def _unverified_levels(records: list[dict[str, Any]]) -> list[str]:
    """'ethos_u55_128: no FVP or board ran: ...' for each target whose device executors all skipped."""
    ran: dict[str, set[str]] = collections.defaultdict(set)
    present: dict[str, set[str]] = collections.defaultdict(set)
    for r in records:
        if r["executor"] in _DEVICE_EXECUTORS:
            present[r["target"]].add(r["executor"])
            if r["outcome"] != Outcome.SKIP:
                ran[r["target"]].add(r["executor"])
    silent = sorted(t for t in present if not ran[t])
    ethos = [t for t in silent if t.startswith("ethos_u")]
    notes = []
    if ethos:
        coverage = stream_coverage(records)
        streamed = "; ".join(f"{t} {coverage[t]['agreed']} of {coverage[t]['with_delegate']}" for t in ethos if t in coverage)
        notes.append(f"{', '.join(ethos)}: no FVP or board ran, so what Vela compiled (its command stream) was not "
                     "executed on an NPU; their numerics rest on the TOSA reference model"
                     + (f" and, for the cases whose stream agreed with it on the functional model ({streamed}), on "
                        "Vela's own definition of the NPU" if streamed else "") + ", their speed on Vela's estimate")
    if other := [t for t in silent if t not in ethos]:
        notes.append(f"{', '.join(other)}: no board ran; verified on this host's ExecuTorch runtime only")
    return notes


def _artifacts(results_dir: Path | None, case: str, target: str) -> list[str]:
    if results_dir is None:
        return []
    folder = results_dir / "artifacts" / target / case
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(results_dir)) for p in folder.rglob("*") if p.is_file())[:40]


def reproduce(case: str, target: str, base_seed: Any, test_id: str = "", cwd: str = "") -> list[str]:
    """The commands that run one case on one target again: alone (its records printed), and as its test."""
    seed = "" if base_seed is None else f" --seed {base_seed}"
    cd = f"cd {cwd} && " if cwd else ""
    return [f"{cd}.venv/bin/python -m etconform run {case} {target}{seed}"] + (
        [f"{cd}./run suite '{test_id}'{seed}"] if test_id.startswith("suites/") else [])


def _details(group: list[dict[str, Any]], results_dir: Path | None, base_seed: Any, cwd: str = "") -> dict[str, Any]:
    first = group[0]
    case, target = first["case"], first["target"]
    test_id = next((r.get("test_id") for r in group if r.get("test_id")), "")
    return {
        "case": case, "target": target, "seed": first.get("seed"), "base_seed": base_seed,
        "records": [{k: r.get(k) for k in ("executor", "outcome", "stage", "message", "metrics", "tolerance", "expected")}
                    | {"localized": (r.get("localization") or {}).get("verdict", "")}
                    for r in group],
        "artifacts": _artifacts(results_dir, case, target),
        "reproduce": reproduce(case, target, base_seed, test_id, cwd),
    }


def build(records: list[dict[str, Any]], runs: list[dict[str, Any]] | None = None, results_dir: Path | None = None,
          budget: str = "") -> dict[str, Any]:
    from etconform.analysis import causes

    runs = runs or []
    totals: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for (_, _, target), (outcome, _) in matrix.case_outcomes(records).items():
        totals[target][outcome] += 1
    problems = [
        {k: r.get(k) for k in ("case", "target", "executor", "outcome", "stage", "message", "metrics", "tolerance")}
        for r in records if r["outcome"] in FAILING
    ]
    fallbacks = [
        {"case": r["case"], "target": r["target"], "undelegated_ops": r["delegation"].get("undelegated_ops"),
         "message": r["message"]}
        for r in records if r["outcome"] == policy.Outcome.FALLBACK
    ]
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        grouped[(r["case"], r["target"])].append(r)
    base_seed = runs[0].get("base_seed") if runs else None
    cwd = runs[0].get("cwd", "") if runs else ""
    details = {f"{c}@{t}": _details(g, results_dir, base_seed, cwd) for (c, t), g in sorted(grouped.items())
               if policy.case_outcome(g)[0] in (*policy.UNEXPECTED, *policy.KNOWN)}
    return {
        "run": [{k: v for k, v in run.items() if k != "started_epoch"} for run in runs],
        "environment": environment(records, runs),
        "verdict": verdict(records, runs),
        "what_ran": _what_ran(records),
        "stream_coverage": stream_coverage(records),
        "causes": causes.group(records),
        "details": details,
        "totals": {t: dict(c) for t, c in sorted(totals.items())},
        "records": len(records),
        "operators": matrix.build(records, "operator"),
        "models": model_rows(records, budget),
        "budget": budget,
        "problems": problems,
        "fallbacks": fallbacks,
        "latency": _latency_rows(records),
    }


def _threshold_text(metrics: dict[str, Any], tolerance: dict[str, Any]) -> str:
    """'cosine 0.9996 (>= 0.95), top-1 1 (>= 0.5)': each accuracy figure beside the bound it is held to."""
    parts = []
    for metric, bound, label in (("cosine", "min_cosine", "cosine"), ("sqnr_db", "min_sqnr_db", "SQNR dB"),
                                 ("top1_agreement", "min_top1_agreement", "top-1 agreement"),
                                 ("next_token_agreement", "min_next_token_agreement", "next-token agreement")):
        if metrics.get(metric) is not None:
            parts.append(f"{label} {_fmt(metrics[metric])}" + (f" (>= {_fmt(tolerance[bound])})" if bound in tolerance else ""))
    return ", ".join(parts)


def _row_source(mine: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The record a model row takes its numbers from: an executor that compared (on Ethos-U the command
    stream can stop at Vela while the TOSA reference model still measured the accuracy), the worst of
    them, so a passing executor's numbers never stand beside a failing outcome; else the first lowered
    record that ran, else the first lowered one, else any."""
    def rank(r: dict[str, Any]) -> tuple[bool, ...]:
        measured = bool(r.get("metrics")) and r["outcome"] != Outcome.SKIP
        return r["outcome"] == Outcome.SKIP, not measured, measured and r["outcome"] not in FAILING, measured and r["outcome"] not in policy.KNOWN

    lowered = [r for r in mine.values() if policy.role_of(r) == policy.LOWERED]
    return min(lowered, key=rank, default=None) or next(iter(mine.values()))


def model_rows(records: list[dict[str, Any]], budget: str = "") -> list[dict[str, Any]]:
    """One row per model and target: outcome, accuracy against its thresholds, delegation, estimate, memory, latency."""
    from etconform.judging.budget import fits, parse_budget

    limits = parse_budget(budget)
    outcomes = matrix.case_outcomes([r for r in records if r.get("kind") == "model"])
    rows = []
    for (_, case, target), (outcome, stage) in sorted(outcomes.items()):
        mine = {r["executor"]: r for r in records if r["case"] == case and r["target"] == target}
        lowered = _row_source(mine)
        d = lowered.get("delegation") or {}
        m = lowered.get("metrics") or {}
        lat = (mine.get("et_runtime") or {}).get("latency") or {}
        est = (mine.get("vela") or {}).get("estimate") or {}
        fit, fit_why = fits(est, limits)
        total, delegated = d.get("total_nodes") or 0, d.get("delegated_nodes") or 0
        on_cpu = policy.on_the_cpu(d)
        rows.append({
            "case": case, "target": target, "outcome": outcome + (f"@{stage}" if outcome in policy.NOT_CLEAN + policy.KNOWN else ""),
            "message": next((r["message"] for r in mine.values() if r["outcome"] in policy.NOT_CLEAN), ""),
            "partitions": d.get("partitions"), "delegated_nodes": d.get("delegated_nodes"), "total_nodes": d.get("total_nodes"),
            "delegated_share": delegated / total if total else None,
            "cpu_ops": sum(on_cpu.values()), "on_cpu": ", ".join(f"{op} x{n}" for op, n in sorted(on_cpu.items(), key=lambda kv: -kv[1])),
            **{k: m.get(k) for k in ("cosine", "sqnr_db", "top1_agreement", "next_token_agreement", "kl_div")},
            "accuracy": _threshold_text(m, lowered.get("tolerance") or {}) + (f" [{lowered['executor']}]" if m else ""),
            "executor": lowered["executor"],
            "host_ms": lat.get("median_ms"), "eager_ms": lat.get("eager_median_ms"),
            "vela_ms": est.get("inference_time_ms"), "npu_operators": est.get("npu_operators"),
            "inferences_per_s": 1e3 / est["inference_time_ms"] if est.get("inference_time_ms") else None,
            "system_config": est.get("system_config"), "core_clock_mhz": est.get("core_clock_mhz"),
            "memory_mode": est.get("memory_mode"),
            **{k: est.get(f"{k}_memory_used") for k in ("sram", "dram", "off_chip_flash", "on_chip_flash")},
            "fits_budget": fit, "budget_note": fit_why, "min_sqnr_db": (lowered.get("tolerance") or {}).get("min_sqnr_db"),
            "fvp_npu_cycles": ((mine.get("fvp") or {}).get("estimate") or {}).get("npu_cycles"),
            "device_ms": ((mine.get("device") or {}).get("latency") or {}).get("median_ms"),
            "weights": lowered.get("weights", ""), "data": lowered.get("data", ""),
            "localized": "; ".join(f"{r['executor']}: {r['localization']['verdict']}" for r in mine.values()
                                   if (r.get("localization") or {}).get("verdict")),
            **_accuracy_fields(m, lowered.get("tolerance") or {}, (mine.get("quantized_eager") or {}).get("metrics") or {}),
        })
    return rows


def _accuracy_fields(m: dict[str, Any], tolerance: dict[str, Any], quantized: dict[str, Any]) -> dict[str, Any]:
    """Accuracy against the true labels (real data only): the program's, eager's, quantized eager's, and what was lost."""
    fields: dict[str, Any] = {k: m.get(k) for k in ("top1_accuracy", "top5_accuracy", "eager_top1_accuracy",
                                                      "eager_top5_accuracy", "top1_accuracy_lost", "top5_accuracy_lost")}
    fields["quantized_top1_accuracy"] = quantized.get("top1_accuracy")
    fields["max_top1_accuracy_lost"] = tolerance.get("max_top1_accuracy_lost")
    # A language model: its top-1 is next-token accuracy against the text, and it has a perplexity (no top-5).
    fields.update({k: m.get(k) for k in ("perplexity", "eager_perplexity", "perplexity_ratio")})
    fields["quantized_perplexity"] = quantized.get("perplexity")
    fields["max_perplexity_ratio"] = tolerance.get("max_perplexity_ratio")
    return fields


def clip(text: str | None, n: int) -> str:
    """At most n characters, cut at a word boundary and marked, never mid-word."""
    text = text or ""
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " …"


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --- renderers ---------------------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(out)


MODEL_COLUMNS = ("model", "target", "outcome", "accuracy vs labels", "accuracy lost vs eager", "agreement (threshold)",
                 "delegated", "on the CPU", "NPU estimate", "memory (KiB)", "fits budget", "host ms (eager)", "weights and data",
                 "where the error comes from")


def _accuracy_cells(row: dict[str, Any]) -> tuple[str, str]:
    """("top-1 90 %, top-5 95 % (eager 90 %, quantized eager 85 %)", "top-1 0 pts (<= 5), top-5 0 pts"), for a
    language model next-token accuracy and perplexity ("next token 45 %, perplexity 19.6 (eager 45 %, 19.6)"), or blanks."""
    if row.get("top1_accuracy") is None:
        return "", ""
    language = row.get("perplexity") is not None
    first = "next token" if language else "top-1"

    def at(prefix: str) -> str:
        top1, ppl = row.get(f"{prefix}top1_accuracy"), row.get(f"{prefix}perplexity")
        return f"{top1:.0%}" + (f", {ppl:.4g}" if language and ppl is not None else "")

    refs = [f"eager {at('eager_')}"] + ([f"quantized eager {at('quantized_')}"] if row.get("quantized_top1_accuracy") is not None else [])
    own = f"{first} {row['top1_accuracy']:.0%}" + (f", perplexity {row['perplexity']:.4g}" if language else "")
    if row.get("top5_accuracy") is not None:
        own += f", top-5 {row['top5_accuracy']:.0%}"
    bound = row.get("max_top1_accuracy_lost")
    lost = f"{first} {100 * row['top1_accuracy_lost']:.0f} pts" + (f" (<= {100 * bound:.0f})" if bound is not None else " (not gated)")
    if language:
        ratio = row.get("max_perplexity_ratio")
        lost += f", perplexity x{row['perplexity_ratio']:.4g}" + (f" (<= {ratio:g})" if ratio is not None else " (not gated)")
    if row.get("top5_accuracy_lost") is not None:
        lost += f", top-5 {100 * row['top5_accuracy_lost']:.0f} pts"
    return f"{own} ({('; ' if language else ', ').join(refs)})", lost


def weights_and_data(row: dict[str, Any]) -> str:
    """Which weights and data a model row used, as one string."""
    return "; ".join(filter(None, [row["weights"], row.get("data", "")]))


def model_cells(row: dict[str, Any]) -> list[str]:
    """A model row as the ML engineer's table shows it, one string per MODEL_COLUMNS entry."""
    share = row["delegated_share"]
    delegated = (f"{share:.0%} of {row['total_nodes']} nodes, {row['partitions']} partition{'s' * (row['partitions'] != 1)}"
                 if share is not None else "")
    estimate = ""
    if row["vela_ms"] is not None:
        clock = f" @ {row['core_clock_mhz']:.0f} MHz" if row["core_clock_mhz"] else ""
        clock += f", {row['memory_mode']}" if row.get("memory_mode") else ""
        estimate = f"{row['vela_ms']:.3g} ms ({row['inferences_per_s']:,.0f}/s), {row['system_config']}{clock}"
        if row["on_cpu"]:
            estimate += "; NPU part only, the CPU part not counted"
    memory = ", ".join(f"{name} {row[key]:.0f}" for key, name in (("sram", "SRAM"), ("dram", "DRAM"),
                                                                  ("off_chip_flash", "flash")) if row.get(key) is not None)
    fits = {None: "", True: "yes", False: "NO: "}[row["fits_budget"]] + (row["budget_note"] if row["fits_budget"] is False else "")
    host = f"{row['host_ms']:.3g} ({row['eager_ms']:.3g})" if row["host_ms"] and row["eager_ms"] else _fmt(row["host_ms"])
    # A program that never lowered has no delegation to tell: "nothing on the CPU" would read as all on the NPU.
    return [row["case"], row["target"], row["outcome"], *_accuracy_cells(row), row["accuracy"], delegated,
            row["on_cpu"] or ("nothing" if row["total_nodes"] else ""), estimate, memory, fits, host,
            weights_and_data(row), row.get("localized", "")]


def run_lines(report: dict[str, Any]) -> list[str]:
    """The run as recorded: date, duration, command, selection, commit, machine, stack."""
    lines = []
    for run in report["run"]:
        sel = run.get("selection") or {}
        m = run.get("machine") or {}
        lines += [f"started {run.get('started')}, finished {run.get('finished', 'unknown')}, took "
                  f"{_duration(run.get('duration_s'))}, exit status "
                  f"{run.get('exit_status', 'unknown: still running or killed')}, {run.get('tests', '?')} tests, "
                  f"{run.get('workers')} workers",
                  f"command: `{run.get('command')}` (in {run.get('cwd')})",
                  "selection: " + (" ".join(sel.get("narrowed_by") or []) or "everything its paths collect")
                  + (f" in {' '.join(sel.get('paths') or [])}" if sel.get("paths") else "") + (" (partial)" if sel.get("partial") else ""),
                  f"etconform {run.get('etconform_commit')}; machine {m.get('host')}: {m.get('cpu')}, {m.get('cores')} cores, "
                  f"{m.get('memory_gib')} GiB, {m.get('platform')}"]
    lines.append("stack: " + ", ".join(f"{k} {v}" for k, v in report["environment"]["versions"].items()))
    return lines


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "?"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def verdict_line(report: dict[str, Any]) -> str:
    v = report["verdict"]
    c = v["counts"]
    parts = [f"{c[f'unexpected_{o}']} {name}" for o, name in ((policy.WRONG_DELEGATED, "wrong inside a delegate"),
             (Outcome.MISMATCH, "mismatches"), (Outcome.FAIL, "failures"), (Outcome.ERROR, "bad cases")) if c.get(f"unexpected_{o}")]
    if c.get("unexpected_fallback"):
        parts.append(f"of which {c['unexpected_fallback']} unexpected CPU fallbacks")
    if c.get("unexpected_expectations"):
        parts.append(f"{c['unexpected_expectations']} known failures that passed or lost coverage")
    return (f"{v['status']}: {c.get('unexpected', 0)} unexpected" + (f" ({', '.join(parts)})" if parts else "")
            + f", {c.get(Outcome.XFAIL, 0)} known failures"
            + (f" (of which {c['known_wrong_delegated']} WRONG inside a delegate)" if c.get("known_wrong_delegated") else "")
            + f", {c.get(Outcome.PASS, 0)} passed, {c.get(Outcome.FALLBACK, 0)} passed with "
            f"expected CPU fallbacks, {c.get(Outcome.SKIP, 0)} skipped; {v['pairs']} case x target pairs")


def to_markdown(report: dict[str, Any]) -> str:
    from etconform.analysis import causes

    outcomes = [o for o in matrix.SEVERITY if any(o in c for c in report["totals"].values())]
    parts = ["# etconform qualification report", "", f"**{verdict_line(report)}**", ""]
    parts += [f"- {c}" for c in report["verdict"]["caveats"]]
    parts += ["", "## Run", ""] + [f"- {line}" for line in run_lines(report)]
    parts += ["", "## Per target: verdict and what ran", ""]
    parts += [f"- **{t}**: {report['verdict']['targets'].get(t, '')}; ran: {'; '.join(lines)}" for t, lines in report["what_ran"].items()]
    if report.get("stream_coverage"):
        parts += ["", "Vela's command stream on the functional model, held exactly to the TOSA reference model:", ""]
        parts += [f"- **{t}**: {stream_line(c)}" for t, c in report["stream_coverage"].items()]
    if report["causes"]:
        parts += ["", "## Unexpected failures by likely cause", ""]
        parts += [f"{i}. {causes.headline(c)}. Example: {c['example'][:200]}" for i, c in enumerate(report["causes"], 1)]
    if report["models"]:
        parts += ["", "## Models", "", _md_table(list(MODEL_COLUMNS), [model_cells(r) for r in report["models"]])]
    parts += ["", "## Cases per outcome", "",
              _md_table(["target", *outcomes], [[t, *(c.get(o, 0) for o in outcomes)] for t, c in report["totals"].items()]),
              "", matrix.to_markdown(report["operators"]).replace("# Support matrix", "## Support matrix")]
    if report["details"]:
        parts += ["## Failures and known failures, with how to reproduce them", ""]
        for d in report["details"].values():
            bad = [r for r in d["records"] if r["outcome"] not in (policy.Outcome.PASS, policy.Outcome.SKIP, policy.Outcome.INFO)]
            parts += [f"### {d['case']} on {d['target']}", ""]
            parts += [f"- {r['executor']}: {r['outcome']}@{r['stage'] or ''}: {(r['message'] or '')[:300]}" for r in bad]
            parts += [f"- reproduce: `{cmd}`" for cmd in d["reproduce"]]
            if d["artifacts"]:
                parts.append("- artifacts: " + ", ".join(d["artifacts"][:12]))
            parts.append("")
    if report["fallbacks"]:
        parts += ["## Fallbacks to the CPU", "", _md_table(
            ["case", "target", "on the CPU"],
            [[f["case"], f["target"], (f["message"] or "")[:200]] for f in report["fallbacks"]])]
    return "\n".join(parts) + "\n"


def write(results_dir: Path, records: list[dict[str, Any]], baseline: Path | None = None) -> dict[str, Any]:
    """report.json, report.md, report.html and plots/ from records (and run.json, and a baseline's records)."""
    from etconform.analysis import report_html
    from etconform.plugin import runinfo

    runs = runinfo.read(results_dir)
    budget = next((run.get("memory_budget") for run in runs if run.get("memory_budget")), "")
    report = build(records, runs, results_dir, budget)
    qualification = ""
    if baseline is not None:
        from etconform.analysis import qualify
        from etconform.records import RECORDS, read_jsonl

        verdict = qualify.qualify(read_jsonl(baseline / RECORDS), records)
        report["qualification"] = {"go": verdict.go, "gates": {g: len(f) for g, f in verdict.gates.items()}}
        qualification = qualify.section_html(verdict, str(baseline), str(results_dir))
        write_atomic(results_dir / "qualify.md", qualify.to_markdown(verdict, str(baseline), str(results_dir)))
    matrix.write(results_dir, records)
    write_atomic(results_dir / "report.json", json.dumps(report, indent=1, sort_keys=True, default=str))
    write_atomic(results_dir / "report.md", to_markdown(report))
    plots = report_html.plots(report, records)
    write_atomic(results_dir / "report.html", report_html.page(report, plots, qualification))
    (results_dir / "plots").mkdir(exist_ok=True)
    for name, png in plots.items():  # the same figures as files, for slides and tickets
        (results_dir / "plots" / f"{name}.png").write_bytes(base64.b64decode(png))
    return report
