"""Sweep the U55 functional model (executors/ethosu/npu.py) over the smoke operator cases.

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python tools/stream_sweep.py [--cache DIR] [-k SUBSTRING]

Each smoke case is lowered once for ethos_u55_128 and cached under --cache (Vela's out_vela.npz,
the delegate's int8 inputs and the TOSA reference model's outputs); reruns after a change to the
functional model only run the streams. Per case it prints exact, mismatch (how many values differ,
the largest difference), unsupported (the reason the model gave), or why the case was not swept
(no delegate, several delegates, a lowering error), then totals and the most common reasons.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np

TARGET = "ethos_u55_128"
SEED = 0  # the suite's default base seed


def smoke_cases() -> list[Any]:
    from etconform.plugin.catalog import operator_cases

    return [case for case in operator_cases() if case.smoke and not case.float_only]


def lower_and_record(case: Any, folder: Path) -> dict[str, Any]:
    """Lower `case`, keep its Vela output and the delegate's TOSA inputs and outputs in `folder`."""
    import executors.tosa_ref as tosa_ref
    from etconform.lowering.pipeline import lower
    from etconform.targets import TARGETS

    built = case.build_all(SEED)
    with tempfile.TemporaryDirectory(prefix="stream-sweep-") as work:
        lowered = lower(built.module, built.samples[0], TARGETS[TARGET], Path(work), built.calibration)
        delegates = len(lowered.delegates)
        if delegates != 1:
            return {"status": "no delegate" if delegates == 0 else f"{delegates} delegates (not swept yet)"}
        shutil.copy(Path(work) / "output" / "out_vela.npz", folder / "vela.npz")
    calls = tosa_ref.delegate_calls(lowered, built.samples[0])
    if len(calls) != 1:
        return {"status": f"the delegate ran {len(calls)} times"}
    inputs, outputs = calls[0]
    np.savez(folder / "calls.npz", n_inputs=len(inputs), **{f"input_{i}": a for i, a in enumerate(inputs)},
             **{f"output_{i}": a for i, a in enumerate(outputs)})
    return {"status": "lowered"}


def cached(case: Any, cache: Path) -> dict[str, Any]:
    folder = cache / case.id
    meta = folder / "meta.json"
    if meta.exists():
        return json.loads(meta.read_text())
    try:
        folder.mkdir(parents=True)
    except FileExistsError:  # claimed by a sweep running beside this one, or left by one that was stopped
        return {"status": "being lowered by another sweep (or a stopped one: remove its folder)"}
    try:
        found = lower_and_record(case, folder)
    except Exception as exc:  # noqa: BLE001 - a case that cannot be lowered is reported, not fatal
        found = {"status": f"lowering failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"}
        (folder / "traceback.txt").write_text(traceback.format_exc())
    meta.write_text(json.dumps(found))
    return found


def run_case(folder: Path) -> tuple[str, str]:
    """(verdict, detail) of the functional model on one cached case."""
    from executors.ethosu.npu import Unsupported, run_stream

    with np.load(folder / "calls.npz") as data:
        n = int(data["n_inputs"])
        inputs = [data[f"input_{i}"] for i in range(n)]
        expected = [data[key] for key in sorted(data.files) if key.startswith("output_")]
    try:
        outputs = run_stream(folder / "vela.npz", inputs)
    except Unsupported as exc:
        return "unsupported", str(exc)
    except Exception as exc:  # noqa: BLE001 - the model's own errors are counted apart
        return "error", f"{type(exc).__name__}: {exc}"
    differing, largest = 0, 0
    for got, want in zip(outputs, expected):
        if got.size != want.size:
            return "error", f"output of {got.size} values, the TOSA reference model gives {want.size}"
        diff = np.abs(got.astype(np.int64).ravel() - want.astype(np.int64).ravel())
        differing, largest = differing + int(np.count_nonzero(diff)), max(largest, int(diff.max(initial=0)))
    if differing:
        return "mismatch", f"{differing} of {sum(e.size for e in expected)} values differ, max {largest}"
    return "exact", f"{sum(e.size for e in expected)} values"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "etconform-stream-sweep")
    parser.add_argument("-k", default="", help="only cases whose id contains this")
    parser.add_argument("--cached-only", action="store_true", help="skip the cases not lowered yet")
    parser.add_argument("--reverse", action="store_true", help="last case first: a second sweep beside a first")
    args = parser.parse_args()
    verdicts: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    several = 0
    for case in smoke_cases()[:: -1 if args.reverse else 1]:
        if args.k not in case.id or (args.cached_only and not (args.cache / case.id / "meta.json").exists()):
            continue
        found = cached(case, args.cache)
        if found["status"] == "lowered":
            verdict, detail = run_case(args.cache / case.id)
        else:
            verdict, detail = "not swept", found["status"]
        verdicts[verdict] += 1
        several += found["status"].endswith("delegates (not swept yet)")
        if verdict in ("unsupported", "error", "not swept"):
            reasons[f"{verdict}: {re.sub(r'[0-9]+', 'N', detail)}"] += 1
        print(f"{case.id:45s} {verdict:12s} {detail}", flush=True)
    swept = sum(n for v, n in verdicts.items() if v != "not swept")
    delegated = swept + several
    print(f"\n{swept} cases with one delegate: " + ", ".join(f"{v} {n}" for v, n in verdicts.most_common()))
    if delegated:
        print(f"exact: {verdicts['exact']} of {delegated} cases with a delegate "
              f"({100 * verdicts['exact'] / delegated:.0f} %; {several} with several delegates not swept)")
    for reason, n in reasons.most_common():
        print(f"{n:4d}  {reason}")


if __name__ == "__main__":
    main()
