"""etconform's command line.

    python -m etconform run CASE_ID [TARGET ...]   run one case, print its records (default: every target)
    python -m etconform matrix RESULTS_DIR          rebuild the support matrix from records.jsonl
    python -m etconform list [OPERATOR]             list the catalog's case ids
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from etconform.catalog import operator_cases
    from etconform.expectations import for_case
    from etconform.records import RecordWriter
    from etconform.runner import run_case
    from etconform.targets import TARGETS

    cases = {c.id: c for c in operator_cases()}
    if args.case not in cases:
        print(f"no case {args.case!r}; `python -m etconform list` shows them", file=sys.stderr)
        return 2
    results = Path(args.results_dir or tempfile.mkdtemp(prefix="etconform-"))
    writer = RecordWriter(results, "cli")
    failed = False
    for name in args.targets or list(TARGETS):
        case, target = cases[args.case], TARGETS[name]
        if case.float_only and target.quantized:
            continue
        run = run_case(case, target, results, writer, args.seed, "cli", for_case(name, case))
        print(f"== {case.id} on {name} (seed {case.seed(args.seed)})\n{run.summary()}\n")
        failed |= bool(run.failures)
    print(f"records: {writer.path}")
    return 1 if failed else 0


def _matrix(args: argparse.Namespace) -> int:
    from etconform import matrix
    from etconform.records import RECORDS, read_jsonl

    results = Path(args.results_dir)
    matrix.write(results, read_jsonl(results / RECORDS))
    print(f"wrote {results / 'support_matrix.md'} and support_matrix.json")
    return 0


def _list(args: argparse.Namespace) -> int:
    from etconform.catalog import operator_cases

    for case in operator_cases():
        if not args.operator or case.subject == args.operator:
            print(case.id)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="etconform", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run one case on some or all targets")
    run.add_argument("case")
    run.add_argument("targets", nargs="*")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--results-dir")
    run.set_defaults(func=_run)
    mat = sub.add_parser("matrix", help="rebuild the support matrix from a results folder")
    mat.add_argument("results_dir")
    mat.set_defaults(func=_matrix)
    lst = sub.add_parser("list", help="list case ids")
    lst.add_argument("operator", nargs="?")
    lst.set_defaults(func=_list)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
