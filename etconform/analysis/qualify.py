"""`etconform qualify BASELINE CANDIDATE`: GO or NO-GO for a candidate build, from two runs.

The gates are the diff's regressions (etconform/analysis/diff.py decides them), and the cases the
candidate verified lower than the committed baselines (suites/expectations/baselines), sorted
by what a release engineer signs off on. Each finding is listed once per case and target with every
executor that saw it, and findings that share a cause (same gate, same message with the
numbers taken out) are grouped, so one root cause is one line, not 552.
"""

from __future__ import annotations

import collections
import html
import re
from dataclasses import dataclass, field
from typing import Any

from etconform.analysis.diff import Change, Thresholds, diff

# Gate -> the diff change kinds whose regressions break it.
GATES = {
    "no new failure": ("outcome", "added"),
    "no lost delegation": ("delegation",),
    "no accuracy drop": ("accuracy",),
    "no NPU-estimate regression": ("estimate",),
    "no lost coverage (nothing verified became skipped or vanished)": ("coverage", "check", "removed"),
    "no latency regression (--gate-latency)": ("latency",),
}


def gate_of(change: Change) -> str:
    return next(g for g, kinds in GATES.items() if change.kind in kinds)


def pattern(text: str) -> str:
    """A finding's message with its numbers taken out (op names stay: they are the cause)."""
    return re.sub(r"[-+]?\d+(\.\d+)?(e[-+]?\d+)?%?", "#", text)


def stack(records: list[dict[str, Any]]) -> dict[str, str]:
    """Every version the records name, per package ('1.5.1 / 1.6.0' for a mixed, merged run)."""
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for r in records:
        for name, version in (r.get("versions") or {}).items():
            seen[name].add(str(version))
    return {name: " / ".join(sorted(v)) for name, v in sorted(seen.items())}


@dataclass
class Verdict:
    go: bool
    gates: dict[str, list[Change]]
    progressions: list[Change]
    per_target: dict[str, collections.Counter]
    groups: list[dict[str, Any]]
    stacks: tuple[dict[str, str], dict[str, str]]
    cases: tuple[int, int]
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Change]:
        return [c for changes in self.gates.values() for c in changes]


def below_baselines(records: list[dict[str, Any]]) -> list[Change]:
    """Cases the candidate verified at a lower level than the committed baselines say a clean run of
    the pinned stack did (suites/expectations/baselines): lost coverage, whatever the baseline run said."""
    from etconform.judging import policy
    from etconform.judging.expectations import for_case
    from etconform.plugin.catalog import by_id

    cases = by_id()
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = collections.defaultdict(list)
    for r in records:
        grouped[(r["case"], r["target"])].append(r)
    found = []
    for (case, target), group in sorted(grouped.items()):
        if case not in cases:
            continue
        lost = policy.lost_coverage(group, for_case(target, cases[case], None))
        if lost:
            found.append(Change((case, target), sorted({r["executor"] for r in group}), "coverage", True, lost))
    return found


def qualify(baseline: list[dict[str, Any]], candidate: list[dict[str, Any]], th: Thresholds | None = None) -> Verdict:
    result = diff(baseline, candidate, th or Thresholds())
    said = {(c.key, c.kind) for c in result.regressions}
    result.changes += [c for c in below_baselines(candidate) if (c.key, c.kind) not in said]
    gates: dict[str, list[Change]] = {g: [] for g in GATES}
    for change in result.regressions:
        gates[gate_of(change)].append(change)
    progressions = [c for c in result.changes if not c.regression and c.kind in ("outcome", "delegation", "estimate")
                    and not c.text.startswith(("partitions", "delegated nodes"))]
    per_target: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for c in result.regressions:
        per_target[c.key[1]]["regressions"] += 1
    for c in progressions:
        per_target[c.key[1]]["progressions"] += 1
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for c in result.regressions:
        g = groups.setdefault((gate_of(c), pattern(c.text)), {"gate": gate_of(c), "pattern": pattern(c.text),
                                                             "changes": [], "targets": set(), "executors": set()})
        g["changes"].append(c)
        g["targets"].add(c.key[1])
        g["executors"].update(c.executors)
    ordered = sorted(groups.values(), key=lambda g: -len(g["changes"]))
    cases = (len({(r["case"], r["target"]) for r in baseline}), len({(r["case"], r["target"]) for r in candidate}))
    notes = []
    if not candidate:
        notes.append("the candidate has no records: nothing was qualified")
    elif cases[1] < cases[0]:
        notes.append(f"the candidate ran {cases[1]} of the baseline's {cases[0]} case x target pairs: "
                     "rerun it with the baseline's selection, or qualify against a baseline of the same selection")
    return Verdict(bool(candidate) and not result.regressions, gates, progressions, dict(per_target), ordered,
                   (stack(baseline), stack(candidate)), cases, notes)


def _stack_changes(v: Verdict) -> list[tuple[str, str, str]]:
    old, new = v.stacks
    return [(k, old.get(k, "-"), new.get(k, "-")) for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]


def _conclusion(g: dict[str, Any]) -> str:
    n = len(g["changes"])
    cases = sorted({c.key[0] for c in g["changes"]})
    first = g["changes"][0]
    others = [c for c in cases if c != first.key[0]]
    return (f"{n} finding{'s' * (n != 1)} on {', '.join(sorted(g['targets']))} "
            f"(seen by {', '.join(sorted(g['executors']))}), e.g. {first.key[0]} on {first.key[1]}: {first.text}"
            + (f"; also {', '.join(others[:4])}" + (" ..." if len(others) > 4 else "") if others else ""))


def to_markdown(v: Verdict, baseline: str, candidate: str) -> str:
    lines = [f"# Qualification: {'GO' if v.go else 'NO-GO'}", "",
             f"Baseline `{baseline}` ({v.cases[0]} case x target pairs), candidate `{candidate}` ({v.cases[1]}).", ""]
    lines += [f"- {note}" for note in v.notes]
    changed = _stack_changes(v)
    lines += ["What differs in the stack: " + ("; ".join(f"{k} {a} -> {b}" for k, a, b in changed) or "nothing"), ""]
    lines += ["| gate | verdict | findings |", "|---|---|---|"]
    lines += [f"| {g} | {'FAIL' if found else 'pass'} | {len(found)} |" for g, found in v.gates.items()]
    lines += ["", "| target | regressions | progressions |", "|---|---|---|"]
    lines += [f"| {t} | {c['regressions']} | {c['progressions']} |" for t, c in sorted(v.per_target.items())]
    if v.groups:
        lines += ["", "## Causes (findings grouped by gate and message)", ""]
        lines += [f"{i}. **{g['gate']}**: {_conclusion(g)}" for i, g in enumerate(v.groups, 1)]
        lines += ["", "## Findings", ""]
        for g in v.groups:
            lines += [f"- {c.key[0]} on {c.key[1]} [{', '.join(c.executors)}] {c.kind}: {c.text}" for c in g["changes"]]
    if v.progressions:
        lines += ["", f"## Progressions ({len(v.progressions)})", ""]
        lines += [f"- {c.key[0]} on {c.key[1]} [{', '.join(c.executors)}] {c.kind}: {c.text}" for c in v.progressions]
    return "\n".join(lines) + "\n"


def section_html(v: Verdict, baseline: str, candidate: str) -> str:
    """The verdict as an HTML fragment: the page of `qualify`, or a section of a run's report."""
    e = html.escape
    colour = "#1a7f37" if v.go else "#b30000"
    changed = "; ".join(f"{k} {a} → {b}" for k, a, b in _stack_changes(v)) or "nothing"
    gates = "".join(f"<tr><td>{e(g)}</td><td style='color:{'#b30000' if f else '#1a7f37'}'><b>"
                    f"{'FAIL' if f else 'pass'}</b></td><td>{len(f)}</td></tr>" for g, f in v.gates.items())
    targets = "".join(f"<tr><td>{e(t)}</td><td>{c['regressions']}</td><td>{c['progressions']}</td></tr>"
                      for t, c in sorted(v.per_target.items()))
    causes = "".join(f"<li><b>{e(g['gate'])}</b>: {e(_conclusion(g))}<details><summary>{len(g['changes'])} findings"
                     f"</summary><ul>" + "".join(f"<li>{e(c.key[0])} on {e(c.key[1])} [{e(', '.join(c.executors))}]: "
                                                 f"{e(c.text)}</li>" for c in g["changes"]) + "</ul></details></li>"
                     for g in v.groups)
    progress = "".join(f"<li>{e(c.key[0])} on {e(c.key[1])}: {e(c.text)}</li>" for c in v.progressions[:200])
    notes = "".join(f"<p><b>{e(n)}</b></p>" for n in v.notes)
    return (f"<section id=qualify><h2 style='color:{colour}'>Qualification: {'GO' if v.go else 'NO-GO'}</h2>{notes}"
            f"<p>Baseline <code>{e(baseline)}</code> ({v.cases[0]} case × target pairs) against candidate "
            f"<code>{e(candidate)}</code> ({v.cases[1]}). What differs in the stack: {e(changed)}.</p>"
            f"<table><tr><th>gate</th><th>verdict</th><th>findings</th></tr>{gates}</table>"
            + (f"<table><tr><th>target</th><th>regressions</th><th>progressions</th></tr>{targets}</table>" if targets else "")
            + (f"<h3>Causes</h3><ol>{causes}</ol>" if causes else "")
            + (f"<details><summary>Progressions ({len(v.progressions)})</summary><ul>{progress}</ul></details>"
               if progress else "") + "</section>")


def to_html(v: Verdict, baseline: str, candidate: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>etconform qualify: {'GO' if v.go else 'NO-GO'}"
            "</title><style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;"
            "margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;font-size:13px;text-align:left}th{background:#f6f6f6}"
            f"li{{margin:.3em 0}}</style></head><body>{section_html(v, baseline, candidate)}</body></html>")
