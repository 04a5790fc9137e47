"""report.html: the first screen answers "can I ship this?", "why does X fail?" and "does my
model fit?"; the rest links down to the numbers. Self-contained (inline CSS, plots as
inline PNG): it opens with no network. Nothing is only in a tooltip.
"""

from __future__ import annotations

import base64
import collections
import html
import io
import re
from typing import Any

from etconform.analysis import causes, matrix
from etconform.analysis.report import (
    MODEL_COLUMNS,
    _fmt,
    clip,
    model_cells,
    run_lines,
    stream_line,
    verdict_line,
    weights_and_data,
)
from etconform.judging import policy
from etconform.records import Outcome

# One name and one colour per outcome, the same in the legend, the matrix and the plots.
LABELS = policy.LABELS
COLOURS = {
    policy.WRONG_DELEGATED: "#67000d", Outcome.MISMATCH: "#e31a1c", Outcome.FAIL: "#fd8d3c", Outcome.ERROR: "#6a3d9a",
    policy.WRONG_KNOWN: "#b15928", Outcome.XFAIL: "#fed976", Outcome.FALLBACK: "#9ecae1", Outcome.PASS: "#31a354",
    Outcome.SKIP: "#d9d9d9", Outcome.INFO: "#f0f0f0",
}
DARK = (policy.WRONG_DELEGATED, Outcome.MISMATCH, Outcome.ERROR, policy.WRONG_KNOWN)  # white ink on their colours
e = html.escape


def _stream_coverage(coverage: dict[str, dict[str, Any]]) -> str:
    if not coverage:
        return ""
    return ("<p>Vela's command stream on the functional model, held exactly to the TOSA reference model:</p><ul>"
            + "".join(f"<li><b>{html.escape(t)}</b>: {html.escape(stream_line(c))}</li>" for t, c in coverage.items())
            + "</ul>")


def anchor(case: str, target: str) -> str:
    return "d-" + re.sub(r"[^A-Za-z0-9_.-]", "_", f"{case}@{target}")


# --- plots -------------------------------------------------------------------------------

def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def plots(report: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = {}
    totals = report["totals"]
    if totals:
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(totals)))
        left = [0] * len(totals)
        for outcome in matrix.SEVERITY[::-1]:
            counts = [totals[t].get(outcome, 0) for t in totals]
            if any(counts):
                ax.barh(list(totals), counts, left=left, color=COLOURS[outcome], label=LABELS[outcome], edgecolor="white")
                left = [a + b for a, b in zip(left, counts)]
        ax.set_xlabel("case x target pairs")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))  # beside the bars, never over the axis
        ax.set_title("Outcomes per target")
        found["outcomes"] = _png(fig)

    models = report["models"]
    npu = [r for r in models if r["vela_ms"]]
    if npu:  # one bar per model and target, its configuration and clock named: estimates are cycles at a clock
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.4 * len(npu)))
        labels = [f"{r['case']} / {r['target']}\n{r['system_config']} @ {_fmt(r['core_clock_mhz'])} MHz" for r in npu]
        ax.barh(labels, [r["vela_ms"] for r in npu], color="#2171b5")
        for i, r in enumerate(npu):
            ax.text(r["vela_ms"], i, f" {r['vela_ms']:.3g} ms", va="center", fontsize=7)
        ax.set_xlabel("Vela's estimated inference time (ms); NPU part only, CPU fallback not included")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("NPU estimate per model")
        found["npu_estimate"] = _png(fig)

    accurate = [r for r in models if r["sqnr_db"] is not None]
    if accurate:  # each bar against its own threshold (red tick): models and targets have different bounds
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.35 * len(accurate)))
        below = [r.get("min_sqnr_db") is not None and r["sqnr_db"] < r["min_sqnr_db"] for r in accurate]
        ax.barh([f"{r['case']} / {r['target']}" for r in accurate], [min(r["sqnr_db"], 150) for r in accurate],
                color=["#e31a1c" if b else "#31a354" for b in below])
        # A known failure's bar says so: red alone reads as a new fault to whoever signs off the release.
        ax.bar_label(ax.containers[0], labels=[("below threshold" + (", known" if r["outcome"] in (Outcome.XFAIL, policy.WRONG_KNOWN) else ""))
                                               if b else "" for r, b in zip(accurate, below)], fontsize=7, padding=2)
        for i, r in enumerate(accurate):
            if r.get("min_sqnr_db") is not None:
                ax.plot([r["min_sqnr_db"]] * 2, [i - 0.4, i + 0.4], color="#000", linewidth=2)
        ax.set_xlabel("SQNR of the lowered program against eager PyTorch (dB, capped at 150); black tick = its threshold")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("Model accuracy against its threshold")
        found["model_accuracy"] = _png(fig)

    host = [r for r in report["latency"] if r["executor"] == "et_runtime" and r.get("eager_median_ms") and r["kind"] == "model"]
    if host:  # the article's Figure 1: eager PyTorch against the ExecuTorch runtime, per model
        # Horizontal, a row per model and target, the values written: upright labels stay readable
        # past a handful of bars, and a 0.2 ms model beside a 120 ms one still shows its number.
        fig, ax = plt.subplots(figsize=(7, 1 + 0.4 * len(host)))
        y = range(len(host))
        ax.barh([i + 0.2 for i in y], [r["eager_median_ms"] for r in host], 0.4, label="PyTorch eager", color="#888")
        ax.barh([i - 0.2 for i in y], [r["median_ms"] for r in host], 0.4, label="ExecuTorch", color="#2171b5")
        for bars in ax.containers:
            ax.bar_label(bars, fmt="%.3g", fontsize=6, padding=2)
        ax.set_yticks(list(y), [f"{r['case']} / {r['target']}" for r in host], fontsize=7)
        ax.set_xlabel("median latency (ms)")
        ax.legend(fontsize=7)
        ax.set_title("Eager PyTorch vs ExecuTorch on this host (warm-up discarded)")
        found["figure1"] = _png(fig)

    frag = [r for r in models if r["partitions"] is not None]
    if frag:
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.3 * len(frag)))
        ax.barh([f"{r['case']} / {r['target']}" for r in frag], [r["partitions"] for r in frag], color="#6a51a3")
        ax.set_xlabel("delegated partitions (more = more NPU/CPU transitions)")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_title("Fragmentation per model")
        found["fragmentation"] = _png(fig)

    for r in records:  # one per localized model and executor: where its error comes from
        if (r.get("localization") or {}).get("layers"):
            found[f"layers_{r['case']}_{r['target']}_{r['executor']}"] = _png(layer_plot(r))

    by_target = collections.defaultdict(list)
    for r in records:
        sqnr = (r.get("metrics") or {}).get("sqnr_db")
        if sqnr is not None and r.get("kind") == "operator" and policy.role_of(r) == policy.LOWERED and r["outcome"] != Outcome.SKIP:
            by_target[r["target"]].append(min(sqnr, 150.0))
    if by_target:
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.4 * len(by_target)))
        ax.boxplot(list(by_target.values()), tick_labels=list(by_target), vert=False)
        ax.set_xlabel("SQNR against eager per operator case (dB, exact matches shown at 150)")
        ax.set_title("Operator accuracy per target")
        found["accuracy"] = _png(fig)
    return found


def _short_weights(models: list[dict[str, Any]]) -> list[list[str]]:
    """The model rows with the weights and data cut short: the same text repeats on every target."""
    at = MODEL_COLUMNS.index("weights and data")
    rows = [model_cells(r) for r in models]
    for row in rows:
        row[at] = clip(row[at], 40)
    return rows


def _weights_list(models: list[dict[str, Any]]) -> str:
    """Each model's weights and data, in full, once."""
    found = {r["case"]: weights_and_data(r) for r in models}
    items = "".join(f"<li><b>{e(case)}</b>: {e(text)}</li>" for case, text in sorted(found.items()) if text)
    return f"<p>Weights and data per model:</p><ul>{items}</ul>" if items else ""


def layer_plot(record: dict[str, Any]) -> Any:
    """Per-layer SQNR of the lowered program against quantized eager and eager, the first departure marked."""
    import matplotlib.pyplot as plt

    found = record["localization"]
    columns, rows = found["columns"], found["layers"]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for key, label, colour in (("sqnr_vs_quantized_db", f"{record['executor']} vs quantized eager", "#2171b5"),
                               ("sqnr_vs_eager_db", f"{record['executor']} vs eager", "#e6550d"),
                               ("quantized_vs_eager_db", "quantized eager vs eager", "#999"),
                               ("own_sqnr_vs_quantized_db", "each layer's own error vs quantized eager", "#31a354")):
        if key not in columns:  # records from before own errors were measured
            continue
        values = [row[columns.index(key)] for row in rows]
        ax.plot(x, [float("nan") if v is None else min(v, 100.0) for v in values], marker=".", label=label, color=colour,
                linestyle="none" if key.startswith("own") else "-")
    first = found.get("first_departure")
    if first:
        at = next(i for i, row in enumerate(rows) if row[0] == first["layer"] and row[1] == first["op"])
        ax.axvline(at, color="#d62728", linestyle="--", label=f"first departure ({first['kind']})")
    step = max(1, len(rows) // 40)
    ax.set_xticks(list(x)[::step], [f"{row[0]} ({row[1]})" for row in rows][::step], rotation=90, fontsize=6)
    ax.set_ylabel("SQNR (dB, capped at 100)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(f"{record['case']} on {record['target']}: {found['verdict']}", fontsize=9)
    return fig


# --- the page ----------------------------------------------------------------------------

def _ink(outcome: str) -> str:
    return "#fff" if outcome in DARK else "#000"


def _cell(cell: dict[str, Any], subject: str, target: str) -> str:
    if not cell:
        return "<td class=na>-</td>"
    worst = cell["worst"]
    counts = ", ".join(f"{LABELS[k]} {v}" for k, v in sorted(cell["counts"].items(), key=lambda kv: matrix.SEVERITY.index(kv[0])))
    first = next((c for c in cell["cases"] if c["outcome"] != Outcome.FALLBACK), None)
    text = f"<a href='#{anchor(first['case'], target)}'>{e(counts)}</a>" if first else e(counts)
    return f"<td style='background:{COLOURS[worst]};color:{_ink(worst)}'>{text}</td>"


def _drop_empty(head: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Columns with nothing in any row are left out: no empty columns, no empty sections."""
    keep = [i for i in range(len(head)) if any(row[i] for row in rows)]
    return [head[i] for i in keep], [[row[i] for i in keep] for row in rows]


def _table(head: list[str], rows: list[list[str]], raw: bool = False) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{c if raw else e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + f"</tr>{cells}</table>"


def _details(d: dict[str, Any]) -> str:
    rows = []
    for r in d["records"]:
        numbers = ", ".join(f"{k} {_fmt(v)}" for k, v in (r["metrics"] or {}).items() if isinstance(v, (int, float)))
        bounds = ", ".join(f"{k} {_fmt(v)}" for k, v in (r["tolerance"] or {}).items() if isinstance(v, (int, float)))
        rows.append([e(r["executor"]), e(LABELS.get(r["outcome"], r["outcome"]) + (f"@{r['stage']}" if r["stage"] else "")),
                     e((r["message"] or "") + (f" [known: {r['expected']}]" if r.get("expected") else "")
                       + (f" [{r['localized']}]" if r.get("localized") else "")),
                     e(numbers), e(bounds)])
    links = " · ".join(f"<a href='{e(a)}'>{e(a.split('/', 3)[-1])}</a>" for a in d["artifacts"]) or "none kept"
    worst = min((r["outcome"] for r in d["records"]), key=lambda o: matrix.SEVERITY.index(o) if o in matrix.SEVERITY else 99)
    return (f"<details id='{anchor(d['case'], d['target'])}'><summary><b>{e(d['case'])}</b> on {e(d['target'])}: "
            f"{e(LABELS.get(worst, worst))}</summary>"
            + _table(["executor", "outcome", "message", "numbers", "bounds"], rows, raw=True)
            + f"<p>case seed {e(str(d['seed']))} (derived from the run's base seed {e(str(d.get('base_seed')))}) · reproduce: " + " or ".join(f"<code>{e(c)}</code>" for c in d["reproduce"])
            + f"</p><p>artifacts: {links}</p></details>")


CSS = """body{font:14px system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:12px;text-align:left;
vertical-align:top}th{background:#f6f6f6}.banner{padding:.6em 1em;font-size:17px;color:#fff;margin:.5em 0}
.key{display:inline-block;padding:2px 6px;margin:2px;font-size:11px}figure{display:inline-block;margin:0 1em 1em 0}
td.na{color:#aaa}td a{color:inherit}details{margin:.3em 0}summary{cursor:pointer}code{background:#f3f3f3;padding:1px 3px}
.wide{overflow-x:auto}"""


def page(report: dict[str, Any], pngs: dict[str, str], qualification: str = "") -> str:
    v = report["verdict"]
    colour = "#b30000" if v["status"] == "FAIL" else "#1a7f37"
    caveats = "".join(f"<li><b>{e(c)}</b></li>" for c in v["caveats"])
    levels = report["operators"]["levels"]
    what_ran = _table(["target", "verdict (case x targets)", "operator cases by the highest level that agreed",
                       "what ran (records per executor)"],
                      [[t, v["targets"].get(t, ""), matrix.level_label(levels.get(t, {})), "; ".join(lines)]
                       for t, lines in report["what_ran"].items()])
    cause_items = "".join(
        f"<li>{e(causes.headline(c))}<br><small>e.g. {e(clip(c['example'], 240))}</small><br><small>cases: "
        + ", ".join(f"<a href='#{anchor(case, target)}'>{e(case)} on {e(target)}</a>" for case, target in c["cases"][:12])
        + (f" and {len(c['cases']) - 12} more" if len(c["cases"]) > 12 else "") + "</small></li>"
        for c in report["causes"])
    sections = [
        "<h1>etconform qualification report</h1>",
        f"<div class=banner style='background:{colour}'>{e(verdict_line(report))}</div>",
        f"<ul>{caveats}</ul>" if caveats else "", qualification,
        "<h2>Run</h2><ul>" + "".join(f"<li>{e(line)}</li>" for line in run_lines(report)) + "</ul>",
        f"<h2>Per target: verdict and what ran</h2>{what_ran}",
        _stream_coverage(report.get("stream_coverage") or {}),
    ]
    if cause_items:
        sections.append(f"<h2>Unexpected failures by likely cause</h2><ol>{cause_items}</ol>")
    if report["models"]:
        budget = f" Memory budget: {e(report['budget'])}." if report["budget"] else " No --memory-budget given."
        sections.append("<h2>Models: accuracy, delegation, speed, memory</h2><p>models on real data: accuracy "
                        "of the lowered program against the true labels, beside eager's and quantized eager's, and the "
                        "accuracy lost against eager (percentage points, with its gate); every model: agreement with "
                        "eager PyTorch beside its threshold (with random weights, agreement only, no task accuracy; "
                        "the weights and data column is cut short; each model's are in full below the table); NPU "
                        "estimate and memory from Vela (its system "
                        f"configuration and clock named; the CPU part is not in it).{budget}</p><div class=wide>"
                        + _table(*_drop_empty(list(MODEL_COLUMNS), _short_weights(report["models"]))) + "</div>"
                        + _weights_list(report["models"]))
    if pngs:
        sections.append("<h2>Plots</h2>" + "".join(f"<figure><img alt='{k}' src='data:image/png;base64,{p}'></figure>"
                                                    for k, p in pngs.items()))
    ops = report["operators"]
    if ops["subjects"]:
        legend = "".join(f"<span class=key style='background:{COLOURS[o]};color:{_ink(o)}'>{LABELS[o]}</span>" for o in COLOURS)
        verified = "<tr><th>verified at</th>" + "".join(
            f"<td>{e(matrix.level_label(ops['levels'].get(t, {})))}</td>" for t in ops["targets"]) + "</tr>"
        rows = "".join(f"<tr><th>{e(s)}</th>" + "".join(_cell(row.get(t, {}), s, t) for t in ops["targets"]) + "</tr>"
                       for s, row in ops["subjects"].items())
        sections.append(f"<h2>Support matrix (operators)</h2><p>{legend}</p><p>Cells count cases by outcome; a cell "
                        "links to its first case that did not pass. The row under the targets says what a pass rests on."
                        f"</p><div class=wide><table><tr><th>operator</th>{''.join(f'<th>{e(t)}</th>' for t in ops['targets'])}"
                        f"</tr>{verified}{rows}</table></div>")
    if report["details"]:
        sections.append(f"<h2>Failures and known failures ({len(report['details'])})</h2>"
                        + "".join(_details(d) for d in report["details"].values()))
    if report["fallbacks"]:
        sections.append(f"<h2>Expected fallbacks to the CPU ({len(report['fallbacks'])})</h2>" + _table(
            ["case", "target", "on the CPU, and the partitioner's reason"],
            [[f["case"], f["target"], clip(f["message"], 300)] for f in report["fallbacks"]]))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>etconform: {v['status']}</title>"
            f"<style>{CSS}</style></head><body>{''.join(sections)}{OPEN_TARGET}</body></html>")


# A link to a case opens its details (they start closed, to keep the page short).
OPEN_TARGET = """<script>function openTarget(){var d=document.getElementById(location.hash.slice(1));
if(d&&d.tagName==='DETAILS'){d.open=true;}}window.addEventListener('hashchange',openTarget);openTarget();</script>"""
