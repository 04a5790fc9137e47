"""The qualification report, built from records alone: report.json, report.md, report.html.

The HTML page is self-contained (inline CSS, plots as inline PNG): it opens with no network.
"""

from __future__ import annotations

import base64
import collections
import html
import io
import json
import os
import platform
from pathlib import Path
from typing import Any

from etconform import matrix, policy
from etconform.records import write_atomic

FAILING = policy.FAILING
COLOURS = {
    "wrong_delegated": "#7f0000", "mismatch": "#d7301f", "fail": "#fc8d59", "error": "#b30000",
    "xfail": "#fdd49e", "fallback": "#9ecae1", "pass": "#41ab5d", "skip": "#d9d9d9", "info": "#f0f0f0",
}


def environment(records: list[dict[str, Any]]) -> dict[str, Any]:
    versions = records[0].get("versions", {}) if records else {}
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    seeds = sorted({r.get("seed") for r in records if r.get("seed") is not None})
    return {"versions": versions, "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "case_seeds": f"{len(seeds)} distinct (per case, from the base seed)"}


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


def build(records: list[dict[str, Any]]) -> dict[str, Any]:
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
        for r in records if r["outcome"] == "fallback"
    ]
    models = model_rows(records)
    return {
        "environment": environment(records),
        "totals": {t: dict(c) for t, c in sorted(totals.items())},
        "records": len(records),
        "operators": matrix.build(records, "operator"),
        "models": models,
        "problems": problems,
        "fallbacks": fallbacks,
        "latency": _latency_rows(records),
    }


def model_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model and target: outcome, delegation, accuracy, latency or estimate."""
    outcomes = matrix.case_outcomes([r for r in records if r.get("kind") == "model"])
    rows = []
    for (_, case, target), (outcome, stage) in sorted(outcomes.items()):
        mine = {r["executor"]: r for r in records if r["case"] == case and r["target"] == target}
        lowered = next((r for r in mine.values() if policy.role_of(r) == policy.LOWERED), None) or next(iter(mine.values()))
        d = lowered.get("delegation") or {}
        m = lowered.get("metrics") or {}
        lat = (mine.get("et_runtime") or {}).get("latency") or {}
        est = (mine.get("vela") or {}).get("estimate") or {}
        rows.append({
            "case": case, "target": target, "outcome": outcome + (f"@{stage}" if outcome in FAILING + ("xfail",) else ""),
            "message": next((r["message"] for r in mine.values() if r["outcome"] in FAILING + ("xfail",)), ""),
            "partitions": d.get("partitions"), "delegated_nodes": d.get("delegated_nodes"), "total_nodes": d.get("total_nodes"),
            "cpu_ops": sum((d.get("undelegated_ops") or {}).values()),
            **{k: m.get(k) for k in ("cosine", "sqnr_db", "top1_agreement", "next_token_agreement", "kl_div")},
            "host_ms": lat.get("median_ms"), "eager_ms": lat.get("eager_median_ms"),
            "vela_ms": est.get("inference_time_ms"), "npu_operators": est.get("npu_operators"),
            "fvp_npu_cycles": ((mine.get("fvp") or {}).get("estimate") or {}).get("npu_cycles"),
            "device_ms": ((mine.get("device") or {}).get("latency") or {}).get("median_ms"),
            "weights": lowered.get("weights", ""),
        })
    return rows


MODEL_COLUMNS = ("case", "target", "outcome", "partitions", "delegated_nodes", "total_nodes", "cpu_ops", "cosine",
                 "sqnr_db", "top1_agreement", "next_token_agreement", "host_ms", "eager_ms", "device_ms", "vela_ms", "fvp_npu_cycles", "weights")


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# --- plots -------------------------------------------------------------------------------

def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plots(report: dict[str, Any]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    totals = report["totals"]
    if totals:
        fig, ax = plt.subplots(figsize=(7, 0.5 + 0.45 * len(totals)))
        left = [0] * len(totals)
        for outcome in matrix.SEVERITY[::-1]:
            counts = [totals[t].get(outcome, 0) for t in totals]
            if any(counts):
                ax.barh(list(totals), counts, left=left, color=COLOURS[outcome], label=outcome)
                left = [a + b for a, b in zip(left, counts)]
        ax.set_xlabel("cases")
        ax.legend(fontsize=7, ncol=4, loc="lower right")
        ax.set_title("Outcomes per target")
        plots["outcomes"] = _png(fig)

    host = [r for r in report["latency"] if r["executor"] == "et_runtime" and r.get("eager_median_ms")]
    models = sorted({r["case"] for r in host if r["kind"] == "model"})
    if models:  # the article's Figure 1: eager PyTorch against the ExecuTorch runtime, per model
        fig, ax = plt.subplots(figsize=(7, 3))
        rows = [next(r for r in host if r["case"] == m) for m in models]
        x = range(len(models))
        ax.bar([i - 0.2 for i in x], [r["eager_median_ms"] for r in rows], 0.4, label="PyTorch eager", color="#888")
        ax.bar([i + 0.2 for i in x], [r["median_ms"] for r in rows], 0.4, label="ExecuTorch", color="#2171b5")
        ax.set_xticks(list(x), [f"{m}\n{r['target']}" for m, r in zip(models, rows)], fontsize=7, rotation=30, ha="right")
        ax.set_ylabel("median latency (ms)")
        ax.legend()
        ax.set_title("Eager PyTorch vs ExecuTorch (host, warm-up discarded)")
        plots["figure1"] = _png(fig)

    vela = [r for r in report["latency"] if r["executor"] == "vela" and r.get("median_ms")]
    if vela:
        fig, ax = plt.subplots(figsize=(7, 3))
        by_target = collections.defaultdict(list)
        for r in vela:
            by_target[r["target"]].append(r["median_ms"] * 1e3)
        ax.boxplot(list(by_target.values()), tick_labels=list(by_target), vert=False)
        ax.set_xscale("log")
        ax.set_xlabel("Vela estimated inference time per case (µs)")
        ax.set_title("NPU estimates")
        plots["vela"] = _png(fig)

    frag = [r for r in report["models"] if r["partitions"] is not None]
    if frag:  # fragmentation: delegated partitions per model and target
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.3 * len(frag)))
        labels = [f"{r['case']} / {r['target']}" for r in frag]
        ax.barh(labels, [r["partitions"] for r in frag], color="#6a51a3")
        ax.set_xlabel("delegated partitions (more = more NPU/CPU transitions)")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("Fragmentation per model")
        plots["fragmentation"] = _png(fig)
    return plots


def _sqnr_plot(records: list[dict[str, Any]]) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_target = collections.defaultdict(list)
    for r in records:
        sqnr = (r.get("metrics") or {}).get("sqnr_db")
        if sqnr is not None and policy.role_of(r) == policy.LOWERED and r["outcome"] != "skip":
            by_target[r["target"]].append(min(sqnr, 150.0))
    if not by_target:
        return None
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.boxplot(list(by_target.values()), tick_labels=list(by_target), vert=False)
    ax.set_xlabel("SQNR against eager (dB, exact matches shown at 150)")
    ax.set_title("Accuracy per target")
    return _png(fig)


# --- renderers ---------------------------------------------------------------------------

def _md_table(headers: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c).replace("|", "/").replace("\n", " ") for c in row) + " |" for row in rows]
    return "\n".join(out)


def to_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    outcomes = [o for o in matrix.SEVERITY if any(o in c for c in report["totals"].values())]
    parts = [
        "# etconform qualification report", "",
        f"{report['records']} records. " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()),
        f"CPU: {env['cpu']} ({env['cores']} cores)", "",
        "## Cases per outcome", "",
        _md_table(["target", *outcomes], [[t, *(c.get(o, 0) for o in outcomes)] for t, c in report["totals"].items()]),
        "", matrix.to_markdown(report["operators"]).replace("# Support matrix", "## Support matrix"),
    ]
    if report["models"]:
        parts += ["## Models", "", _md_table(list(MODEL_COLUMNS),
                                            [[_fmt(r[c]) for c in MODEL_COLUMNS] for r in report["models"]]), ""]
    if report["problems"]:
        parts += ["## Failures and mismatches", "", _md_table(
            ["case", "target", "executor", "outcome", "stage", "message"],
            [[p["case"], p["target"], p["executor"], p["outcome"], p["stage"] or "", (p["message"] or "")[:200]]
             for p in report["problems"]])]
    if report["fallbacks"]:
        parts += ["", "## Fallbacks to the CPU", "", _md_table(
            ["case", "target", "on the CPU"],
            [[f["case"], f["target"], (f["message"] or "")[:200]] for f in report["fallbacks"]])]
    return "\n".join(parts) + "\n"


def _ink(outcome: str) -> str:
    return "#fff" if outcome in ("wrong_delegated", "mismatch", "error") else "#000"


def _cell_html(cell: dict[str, Any]) -> str:
    if not cell:
        return "<td class=na>-</td>"
    worst = cell["worst"]
    title = "; ".join(f"{c['case']}: {c['outcome']}{'@' + c['stage'] if c['stage'] else ''}" for c in cell["cases"])
    counts = " ".join(f"{k} {v}" for k, v in sorted(cell["counts"].items(), key=lambda kv: matrix.SEVERITY.index(kv[0])))
    return f'<td style="background:{COLOURS[worst]};color:{_ink(worst)}" title="{html.escape(title)}">{html.escape(counts)}</td>'


def to_html(report: dict[str, Any], plots: dict[str, str]) -> str:
    env = report["environment"]
    ops = report["operators"]
    rows = "".join(
        f"<tr><th>{html.escape(s)}</th>" + "".join(_cell_html(row.get(t, {})) for t in ops["targets"]) + "</tr>"
        for s, row in ops["subjects"].items()
    )
    verified = "<tr><th>verified at</th>" + "".join(
        f"<td>{html.escape(matrix.level_label(ops['levels'].get(t, {})))}</td>" for t in ops["targets"]) + "</tr>"
    legend = "".join(f'<span class=key style="background:{c};color:{_ink(o)}">{o}</span>' for o, c in COLOURS.items())
    imgs = "".join(f'<figure><img alt="{k}" src="data:image/png;base64,{v}"></figure>' for k, v in plots.items())
    problems = "".join(
        f"<tr><td>{html.escape(p['case'])}</td><td>{p['target']}</td><td>{p['executor']}</td>"
        f"<td>{p['outcome']}{'@' + p['stage'] if p['stage'] else ''}</td><td>{html.escape((p['message'] or '')[:300])}</td></tr>"
        for p in report["problems"]
    )
    fallbacks = "".join(
        f"<tr><td>{html.escape(f['case'])}</td><td>{f['target']}</td><td>{html.escape((f['message'] or '')[:300])}</td></tr>"
        for f in report["fallbacks"]
    )
    versions = "".join(f"<li>{html.escape(k)} {html.escape(str(v))}</li>" for k, v in env["versions"].items())
    model_head = "".join(f"<th>{c}</th>" for c in MODEL_COLUMNS)
    model_body = "".join(
        f'<tr title="{html.escape(r["message"] or "")}">' + "".join(f"<td>{html.escape(_fmt(r[c]))}</td>" for c in MODEL_COLUMNS) + "</tr>"
        for r in report["models"]
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>etconform report</title><style>
body{{font:14px system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;font-size:12px;text-align:left}} th{{background:#f6f6f6}}
.key{{display:inline-block;padding:2px 6px;margin:2px;font-size:11px}} figure{{display:inline-block;margin:0 1em 1em 0}}
td.na{{color:#aaa}}</style></head><body>
<h1>etconform qualification report</h1>
<p>{report['records']} records · CPU {html.escape(env['cpu'])} ({env['cores']} cores)</p><ul>{versions}</ul>
<h2>Plots</h2>{imgs}
<h2>Models: delegation, accuracy, latency</h2>
<p>partitions = delegated subgraphs (fragmentation); host_ms / eager_ms = median latency of the ExecuTorch runtime and of
eager PyTorch here; device_ms = median on the --device board; vela_ms = Vela's NPU estimate;
fvp_npu_cycles = the Ethos-U PMU cycle counter on the Corstone FVP. Hover a row for its failure.</p>
<table><tr>{model_head}</tr>{model_body}</table>
<h2>Support matrix</h2><p>{legend}</p><p>Cells count cases by outcome; hover for the cases that did not pass.</p>
<table><tr><th>operator</th>{''.join(f'<th>{t}</th>' for t in ops['targets'])}</tr>{verified}{rows}</table>
<h2>Failures and mismatches ({len(report['problems'])})</h2>
<table><tr><th>case</th><th>target</th><th>executor</th><th>outcome</th><th>message</th></tr>{problems}</table>
<h2>Fallbacks to the CPU ({len(report['fallbacks'])})</h2>
<table><tr><th>case</th><th>target</th><th>on the CPU, and the partitioner's reason</th></tr>{fallbacks}</table>
</body></html>"""


def write(results_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    report = build(records)
    matrix.write(results_dir, records)
    write_atomic(results_dir / "report.json", json.dumps(report, indent=1, sort_keys=True, default=str))
    write_atomic(results_dir / "report.md", to_markdown(report))
    plots = _plots(report)
    sqnr = _sqnr_plot(records)
    if sqnr:
        plots["accuracy"] = sqnr
    write_atomic(results_dir / "report.html", to_html(report, plots))
    (results_dir / "plots").mkdir(exist_ok=True)
    for name, png in plots.items():  # the same figures as files, for slides and tickets
        (results_dir / "plots" / f"{name}.png").write_bytes(base64.b64decode(png))
    return report

