"""What a case costs: median seconds per case and target, next to ExecuTorch's own arm tests.

    .venv/bin/python bench/cost_per_case.py [--ops add,conv2d,relu,sigmoid] [--no-executorch-tests]

Each case runs the whole pipeline from scratch (export, quantize, lower, Vela, every
executor), in one process after one warm-up case, so the figure is a cold case in a
warm interpreter: what a case costs inside `pytest -n auto`, per worker. ExecuTorch's
arm tests for the same operators run under pytest in a child process; their per-test
call durations come from pytest's --durations report.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from etconform.plugin.catalog import operator_cases  # noqa: E402
from etconform.records import RecordWriter  # noqa: E402
from etconform.runner import run_case  # noqa: E402
from etconform.targets import TARGETS  # noqa: E402


def ours(ops: list[str]) -> dict[str, list[float]]:
    cases = [c for c in operator_cases() if c.subject in ops]
    times: dict[str, list[float]] = {name: [] for name in TARGETS}
    with tempfile.TemporaryDirectory() as tmp:
        writer = RecordWriter(Path(tmp), "bench")
        run_case(cases[0], TARGETS["tosa_int"], Path(tmp), writer, 0, "warm-up")
        for target in TARGETS.values():
            for case in cases:
                t0 = time.perf_counter()
                run_case(case, target, Path(tmp), writer, 0, "bench")
                times[target.name].append(time.perf_counter() - t0)
    return times


def executorch_arm_tests(ops: list[str]) -> tuple[list[float], str]:
    import importlib.util

    package = importlib.util.find_spec("executorch").submodule_search_locations[0]  # a namespace package
    test_dir = Path(package) / "backends" / "arm" / "test"
    files = [str(test_dir / "ops" / f"test_{op}.py") for op in ops if (test_dir / "ops" / f"test_{op}.py").exists()]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", "--durations=0", "-k", "tosa or u55 or u85"],
        capture_output=True, text=True, cwd=test_dir,
    )
    durations = [float(m.group(1)) for m in re.finditer(r"^([\d.]+)s call ", proc.stdout, re.M)]
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    return durations, tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", default="add,conv2d,relu,sigmoid")
    parser.add_argument("--no-executorch-tests", action="store_true")
    args = parser.parse_args()
    ops = args.ops.split(",")

    print(f"etconform, operators {', '.join(ops)}: seconds per case (whole pipeline + every executor)")
    print(f"{'target':16s} {'cases':>5s} {'median':>7s} {'min':>6s} {'max':>6s}")
    for target, times in ours(ops).items():
        print(f"{target:16s} {len(times):5d} {statistics.median(times):7.2f} {min(times):6.2f} {max(times):6.2f}")
    if args.no_executorch_tests:
        return
    durations, tail = executorch_arm_tests(ops)
    print(f"\nExecuTorch backends/arm/test/ops ({', '.join(ops)}; TOSA, U55, U85 tests): {tail}")
    if durations:
        print(f"{'per test':16s} {len(durations):5d} {statistics.median(durations):7.2f} {min(durations):6.2f} {max(durations):6.2f}")


if __name__ == "__main__":
    main()
