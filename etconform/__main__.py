"""etconform's command line.

    python -m etconform run CASE_ID [TARGET ...]   run one case, print its records (default: every target)
    python -m etconform report RESULTS_DIR          (re)build the reports from records.jsonl
    python -m etconform diff OLD_DIR NEW_DIR        what changed; exit 1 on a regression
    python -m etconform qualify BASE_DIR CAND_DIR   GO or NO-GO, with its gates; exit 1 on NO-GO
    python -m etconform merge DIR... -o OUT_DIR     merge runs (shards, machines) into one
    python -m etconform list [OPERATOR]             list the catalog's case ids
    python -m etconform draft RESULTS_DIR TARGET [--update [--like T2]...]  a draft expectations file from a run
    python -m etconform cache stats|clear           the artifact cache ($ETCONFORM_CACHE_DIR)
    python -m etconform durations RESULTS_DIR       seconds per test, as pytest-split's .test_durations
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from etconform.judging.expectations import for_case
    from etconform.plugin.catalog import model_cases, operator_cases
    from etconform.records import RecordWriter
    from etconform.runner import run_case
    from etconform.targets import TARGETS

    cases = {c.id: c for c in (*operator_cases(), *model_cases())}
    if args.case not in cases:
        print(f"no case {args.case!r}; `python -m etconform list` shows them", file=sys.stderr)
        return 2
    results = Path(args.results_dir or tempfile.mkdtemp(prefix="etconform-"))
    writer = RecordWriter(results, "cli")
    failed = False
    for name in args.targets or list(TARGETS):
        case, target = cases[args.case], TARGETS[name]
        if not case.applies_to(target):
            continue
        run = run_case(case, target, results, writer, args.seed, "cli", for_case(name, case, args.seed))
        print(f"== {case.id} on {name} (seed {case.seed(args.seed)})\n{run.summary()}\n")
        failed |= bool(run.failures)
    print(f"records: {writer.path}")
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from etconform.analysis import report
    from etconform.records import RECORDS, read_jsonl

    results = Path(args.results_dir)
    if not (results / RECORDS).exists():
        print(f"no {RECORDS} in {results}", file=sys.stderr)
        return 2
    report.write(results, read_jsonl(results / RECORDS))
    print(f"wrote {results}/report.html, report.md, report.json, support_matrix.md, support_matrix.json")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from etconform.analysis.diff import diff
    from etconform.records import RECORDS, read_jsonl

    old, new = (read_jsonl(Path(d) / RECORDS) for d in (args.old, args.new))
    result = diff(old, new, _thresholds(args))
    print(result.render())
    return 1 if result.regressions else 0


def _thresholds(args: argparse.Namespace) -> object:
    from etconform.analysis.diff import Thresholds

    return Thresholds(sqnr_db=args.sqnr_db, qsteps=args.qsteps, gate_latency=args.gate_latency,
                      estimate_margin=args.estimate_margin)


def _qualify(args: argparse.Namespace) -> int:
    from etconform.analysis import qualify
    from etconform.records import RECORDS, read_jsonl, write_atomic

    for folder in (args.baseline, args.candidate):
        if not (Path(folder) / RECORDS).is_file():
            print(f"no {RECORDS} in {folder}: give the results folders of two runs", file=sys.stderr)
            return 2
    base, cand = (read_jsonl(Path(d) / RECORDS) for d in (args.baseline, args.candidate))
    verdict = qualify.qualify(base, cand, _thresholds(args))
    out = Path(args.output or args.candidate)
    out.mkdir(parents=True, exist_ok=True)
    text = qualify.to_markdown(verdict, args.baseline, args.candidate)
    write_atomic(out / "qualify.md", text)
    write_atomic(out / "qualify.html", qualify.to_html(verdict, args.baseline, args.candidate))
    print(text.split("\n## Findings")[0].rstrip())
    print(f"\nevery finding: {out / 'qualify.md'} and {out / 'qualify.html'}")
    return 0 if verdict.go else 1


def _merge(args: argparse.Namespace) -> int:
    from etconform.analysis import report
    from etconform.records import RECORDS, read_jsonl, write_atomic

    merged: dict[tuple, dict] = {}
    for folder in args.dirs:
        for record in read_jsonl(Path(folder) / RECORDS):
            key = (record["case"], record["target"], record["executor"])
            if key in merged:
                print(f"{folder}: {key} also in an earlier folder; the later one is kept", file=sys.stderr)
            merged[key] = record
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    records = sorted(merged.values(), key=lambda r: (r["case"], r["target"], r["executor"]))
    write_atomic(out / RECORDS, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    from etconform.plugin import runinfo

    runinfo.write(out, [run for folder in args.dirs for run in runinfo.read(Path(folder))])
    report.write(out, records)
    print(f"merged {len(records)} records from {len(args.dirs)} folders into {out}")
    return 0


def _draft(args: argparse.Namespace) -> int:
    from etconform.analysis.draft import draft, uncovered, update
    from etconform.records import RECORDS, read_jsonl

    records = [r for folder in args.results_dirs for r in read_jsonl(Path(folder) / RECORDS)]
    if not args.update:
        print(draft(records, args.target))
        return 0
    import itertools
    import tomllib

    from etconform.judging.expectations import EXPECTATIONS_DIR
    from etconform.plugin.catalog import model_cases, operator_cases

    path = EXPECTATIONS_DIR / f"{args.target}.toml"
    text = path.read_text() if path.exists() else ""
    header = "".join(itertools.takewhile(lambda line: line.startswith("#"), text.splitlines(keepends=True)))
    catalog = {c.id: c.subject for c in (*operator_cases(), *model_cases())}
    like = []
    for name in args.like:
        sibling = EXPECTATIONS_DIR / f"{name}.toml"
        if not sibling.exists():
            raise SystemExit(f"etconform draft: --like {name}: no expectations file {sibling}")
        like.append((name, tomllib.loads(sibling.read_text())))
    path.write_text(update(tomllib.loads(text), records, args.target, catalog, header, tuple(like)))
    print(f"rewrote {path}: the cases in {', '.join(args.results_dirs)} redrafted, the others kept; review with git diff")
    missing = uncovered(records, args.target, tomllib.loads(path.read_text()), catalog)
    if missing:
        print(f"{len(missing)} failing cases have no entry (the draft cannot express their failure; they stay red): "
              + ", ".join(missing))
        return 1
    return 0


def _baselines(args: argparse.Namespace) -> int:
    import collections
    import json

    from etconform.judging import oracle, policy
    from etconform.judging.expectations import EXPECTATIONS_DIR, for_case
    from etconform.plugin.catalog import by_id
    from etconform.records import RECORDS, read_jsonl, run_seed

    cases = by_id()
    records, levels, stacks, retiring = [], collections.defaultdict(list), set(), set()
    for folder in args.results_dirs:
        mine = [r for r in read_jsonl(Path(folder) / RECORDS) if r["target"] == args.target]
        if not mine:
            raise SystemExit(f"etconform baselines: no records of {args.target} in {folder}")
        bad = [r for r in mine if r["outcome"] in policy.FAILING]
        # A baseline is what a clean run measured: an unexpected failure is no bar to hold others to. Only
        # the bounds in the quantizer's own steps, which the baseline retires on the seeds it measures, may fail;
        # its level is what the records verified once those are retired.
        judged = [r if r["outcome"] not in policy.FAILING or r["case"] not in cases
                  else oracle.retire(r, for_case(args.target, cases[r["case"]], run_seed(r))) for r in mine]
        failing = sorted({r["case"] for r, j in zip(mine, judged) if j is None or j["outcome"] in policy.FAILING})
        if failing:
            raise SystemExit(f"etconform baselines: {folder} has {len(failing)} failing cases ({', '.join(failing[:5])}): "
                             "fix them or cover them with expectations first")
        retiring |= {(r["case"], r["seed"]) for r in bad}
        mine = judged
        by_case = collections.defaultdict(list)
        for r in mine:
            by_case[r["case"]].append(r)
            stacks.add(json.dumps(r["versions"], sort_keys=True))
        for case, group in by_case.items():
            levels[case].append(policy.verified_level(group))
        records += mine
    if len(stacks) > 1 or any(json.loads(s).get("under_test") not in ("", "pinned", None) for s in stacks):
        raise SystemExit("etconform baselines: the runs are not all of the pinned stack; baselines come from it alone")
    path = EXPECTATIONS_DIR / "baselines" / f"{args.target}.json"
    kept = json.loads(path.read_text())["cases"] if path.exists() else {}
    drafted = oracle.draft_baselines(records, args.target, levels)
    about = {"versions": json.loads(stacks.pop()), "runs": len(args.results_dirs),
             "what": "per case: the lowest level the runs verified; per executor: ideal_gap_db, max_err_gap_db and share_off per case seed, the worst and their spread over the runs"}
    oracle.write_baselines(path, dict(sorted({**kept, **drafted}.items())), about)
    print(f"wrote {path}: {len(drafted)} cases from {len(args.results_dirs)} runs, {len(kept.keys() - drafted.keys())} kept; "
          "review with git diff")
    if retiring:
        print(f"{len(retiring)} case seeds failed only the bounds in the quantizer's own steps, which this baseline retires "
              "there (the ideal gaps judge them now), or what the expectations cover now: "
              + ", ".join(f"{c} (seed {s})" for c, s in sorted(retiring)))
    return 0


def _cache(args: argparse.Namespace) -> int:
    import os

    from etconform.lowering.cache import DEFAULT_DIR, ArtifactCache

    cache = ArtifactCache(Path(args.cache_dir or os.environ.get("ETCONFORM_CACHE_DIR") or DEFAULT_DIR))
    if args.action == "clear":
        print(f"removed {cache.clear()} entries from {cache.root}")
    else:
        stats = cache.stats()
        print(f"{stats['entries']} entries, {stats['bytes'] / 1e6:.1f} MB in {stats['root']}")
    return 0


def _durations(args: argparse.Namespace) -> int:
    """pytest-split balances shards by these: each test's longest record (its case's wall time)."""
    from etconform.records import RECORDS, read_jsonl

    took: dict[str, float] = {}
    for r in read_jsonl(Path(args.results_dir) / RECORDS):
        if r.get("test_id"):
            took[r["test_id"]] = max(took.get(r["test_id"], 0.0), float(r.get("seconds") or 0.0))
    print(json.dumps(dict(sorted(took.items())), indent=1))
    return 0


def _list(args: argparse.Namespace) -> int:
    from etconform.plugin.catalog import model_cases, operator_cases

    for case in (*operator_cases(), *model_cases()):
        if not args.operator or case.subject == args.operator:
            print(case.id)
    return 0


_GATES = [  # what diff and qualify count as a regression
    ("--sqnr-db", {"type": float, "default": 3.0, "help": "SQNR drop that counts (dB)"}),
    ("--qsteps", {"type": float, "default": 1.0, "help": "error growth that counts (output steps)"}),
    ("--gate-latency", {"action": "store_true", "help": "a slower median beyond noise is a regression"}),
    ("--estimate-margin", {"type": float, "default": 0.05,
                           "help": "rise of a Vela or FVP estimate that counts (fraction; 0.05 = 5%%)"}),
]
# command -> (function, help, [(argument, add_argument keywords)])
COMMANDS: dict[str, tuple[Any, str, list[tuple[str, dict[str, Any]]]]] = {
    "run": (_run, "run one case on some or all targets", [
        ("case", {}), ("targets", {"nargs": "*"}), ("--seed", {"type": int, "default": 0}), ("--results-dir", {})]),
    "report": (_report, "(re)build the reports of a results folder", [("results_dir", {})]),
    "diff": (_diff, "what changed between two runs; exit 1 on a regression", [("old", {}), ("new", {}), *_GATES]),
    "qualify": (_qualify, "GO or NO-GO for a candidate run against a baseline; exit 1 on NO-GO", [
        ("baseline", {}), ("candidate", {}),
        ("--output", {"help": "where qualify.md and qualify.html go (default: the candidate folder)"}), *_GATES]),
    "merge": (_merge, "merge the records of several runs and report on them", [
        ("dirs", {"nargs": "+"}), ("--output", {"required": True})]),
    "draft": (_draft, "draft an expectations file from a run's records", [
        ("results_dirs", {"nargs": "+", "metavar": "results_dir",
                          "help": "one or more runs (one per seed): a failure seen on some of their seeds only is "
                                  "scoped to them"}),
        ("target", {}),
        ("--update", {"action": "store_true", "help": "rewrite the target's expectations file: redraft the cases the "
                                                       "run covered, keep the rest"}),
        ("--like", {"metavar": "TARGET", "action": "append", "default": [],
                    "help": "with --update: a new entry that says what TARGET's entry for the case says takes its "
                            "reason (repeatable: the first TARGET that says the same wins)"})]),
    "baselines": (_baselines, "write a target's baselines from clean runs of the pinned stack (review with git diff)", [
        ("target", {}), ("results_dirs", {"nargs": "+", "help": "one folder per clean run (seeds): the worst of them is kept"})]),
    "cache": (_cache, "size of the artifact cache, or empty it", [
        ("action", {"choices": ("stats", "clear")}), ("--cache-dir", {})]),
    "durations": (_durations, "seconds per test from a run, for pytest-split (> .test_durations)", [("results_dir", {})]),
    "list": (_list, "list case ids", [("operator", {"nargs": "?"})]),
}
_SHORT = {"--output": "-o"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="etconform", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (func, help_text, arguments) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        for flag, keywords in arguments:
            command.add_argument(*filter(None, (_SHORT.get(flag), flag)), **keywords)
        command.set_defaults(func=func)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
