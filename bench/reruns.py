"""Ratios from one run: warm rerun vs cold, -n 2 vs -n 1, and shared work vs none, on a fixed selection.

    .venv/bin/python bench/reruns.py [-k EXPR] [-m MARKS] [--skip-n1] [--skip-unshared]

Each variant is a whole `pytest` run in a child process (collection, worker start-up and
all), timed on the wall clock: cold with a new empty cache, warm on the cache the cold run
filled, cold again with one worker, and cold with nothing shared between a case's targets
(ETCONFORM_NO_SHARING: each target builds and exports the case anew, as before sharing).
Ratios are what to quote: this machine is shared. Collection time is measured apart
(`--collect-only`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "suites/ethos_u", "suites/xnnpack"]


def timed(args: list[str], results: Path, env: dict[str, str] | None = None) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run([*PYTEST, *args, "--results-dir", str(results)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    tail = (done.stdout.strip().splitlines() or [""])[-1]
    return time.perf_counter() - t0, tail


def _records(results: Path) -> list[dict]:
    return [json.loads(line) for line in (results / "records.jsonl").read_text().splitlines()]


def cache_share(results: Path) -> str:
    records = [r for r in _records(results) if r.get("cache")]
    hits = sum(1 for r in records if r["cache"]["lowering"] == "hit")
    return f"{hits}/{len(records)} records with a lowering took it from the cache"


def case_seconds(results: Path) -> float:
    """Median wall time of one case on one target, inside the worker (no start-up, no collection)."""
    took: dict[tuple, float] = {}
    for r in _records(results):
        key = (r["case"], r["target"])
        took[key] = max(took.get(key, 0.0), r.get("seconds") or 0.0)
    return statistics.median(took.values())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("-k", default="relu- or sigmoid- or conv2d-")
    parser.add_argument("-m", default="smoke and operator")
    parser.add_argument("--skip-n1", action="store_true", help="skip the slow one-worker run")
    parser.add_argument("--skip-unshared", action="store_true", help="skip the cold run with nothing shared")
    args = parser.parse_args()
    select = ["-m", args.m, "-k", args.k]
    with tempfile.TemporaryDirectory(prefix="etconform-bench-") as tmp:
        tmp = Path(tmp)
        cache = ["--cache-dir", str(tmp / "cache")]
        rows = {}
        rows["collect"] = timed([*select, "--collect-only"], tmp / "collect")
        rows["cold -n 2"] = timed([*select, "-n", "2", *cache], tmp / "cold")
        rows["warm -n 2"] = timed([*select, "-n", "2", *cache], tmp / "warm")
        if not args.skip_n1:
            rows["cold -n 1"] = timed([*select, "-n", "1", "--no-cache"], tmp / "n1")
        if not args.skip_unshared:
            rows["unshared"] = timed([*select, "-n", "2", "--cache-dir", str(tmp / "cache2")], tmp / "unshared", {"ETCONFORM_NO_SHARING": "1"})
        for name, (seconds, tail) in rows.items():
            print(f"{name:10s} {seconds:8.1f} s   {tail}")
        print(f"warm run: {cache_share(tmp / 'warm')}")
        cold, warm = rows["cold -n 2"][0], rows["warm -n 2"][0]
        print(f"warm rerun vs cold (-n 2): {cold / warm:.1f}x faster on the wall clock "
              f"(start-up and collection included: {rows['collect'][0]:.0f} s of collection alone)")
        c, w = case_seconds(tmp / "cold"), case_seconds(tmp / "warm")
        print(f"median case: cold {c:.2f} s, warm {w:.3f} s: {c / w:.0f}x faster per case")
        if "cold -n 1" in rows:
            print(f"-n 2 vs -n 1 (cold):       {rows['cold -n 1'][0] / cold:.2f}x faster")
        if "unshared" in rows:
            print(f"shared work vs none (cold -n 2): {cold / rows['unshared'][0]:.2f}x the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
