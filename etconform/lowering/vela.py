"""Vela's estimate for each Ethos-U delegate, captured as each delegate is compiled.

Every Vela call writes the same output/out_summary_*.csv in the dump folder, so only
the last delegate's estimate would survive. We wrap ExecuTorch's own vela_compile
(the real one runs unchanged) and read the summary right after each call.
"""

from __future__ import annotations

import contextlib
import csv
import faulthandler
import hashlib
import io
import os
import pickle
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Summary columns kept per delegate, with the unit they are in.
_FIELDS = {
    "inference_time": "s",
    "cycles_total": "cycles",
    "cycles_npu": "cycles",
    "nn_macs": "MACs",
    "sram_memory_used": "KiB",
    "off_chip_flash_memory_used": "KiB",
    "on_chip_flash_memory_used": "KiB",
    "dram_memory_used": "KiB",
    "passes_after_fusing": "passes",
}


@dataclass
class VelaCall:
    tosa: bytes
    summary: dict[str, float]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_summary(output_dir: Path) -> dict[str, float]:
    rows: list[dict[str, Any]] = []
    for path in sorted(output_dir.glob("out_summary_*.csv")):
        with path.open() as f:
            rows.extend(csv.DictReader(f))
    if not rows:
        return {}
    row = rows[-1]
    summary = {key: float(row[key]) for key in _FIELDS if row.get(key) not in (None, "")}
    summary["system_config"] = row.get("system_config", "")  # type: ignore[assignment]
    summary["accelerator"] = row.get("accelerator_configuration", "")  # type: ignore[assignment]
    summary["memory_mode"] = row.get("memory_mode", "")  # type: ignore[assignment]
    if row.get("core_clock"):  # estimates are cycles at this clock: name it beside every time
        summary["core_clock_mhz"] = float(row["core_clock"]) / 1e6
    return summary


def operator_split(printed: str) -> dict[str, float]:
    """Vela's "CPU operators = N" and "NPU operators = M" lines."""
    split = {}
    for unit in ("CPU", "NPU"):
        found = re.search(rf"^{unit} operators = (\d+)", printed, re.M)
        if found:
            split[f"{unit.lower()}_operators"] = float(found.group(1))
    return split


@contextlib.contextmanager
def capture_vela_calls() -> Iterator[dict[str, VelaCall]]:
    """Yield {sha256 of Vela's output: VelaCall} filled while lowering runs inside."""
    import executorch.backends.arm.ethosu.backend as ethosu_backend

    calls: dict[str, VelaCall] = {}
    real = ethosu_backend.vela_compile

    def observed(tosa_flatbuffer: bytes, args: list[str], **kwargs: Any) -> Any:
        from etconform.stages import enter

        enter("vela")  # Vela runs inside the lowering: a crash in it is Vela's
        result, printed = in_child(real, tosa_flatbuffer, args, **kwargs)
        enter("lower")
        path = kwargs.get("intermediate_path")
        summary = read_summary(Path(path) / "output") if path else {}
        summary.update(operator_split(printed))
        calls[digest(result.processed_bytes)] = VelaCall(tosa_flatbuffer, summary)
        return result

    ethosu_backend.vela_compile = observed
    try:
        yield calls
    finally:
        ethosu_backend.vela_compile = real


def in_child(compile_: Any, *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """Run ExecuTorch's vela_compile in a forked child: (its result, what Vela printed).

    Vela's native part can segfault (5.1.0 on amin over a rank-6 input, for the U55); in this
    process that would kill the worker and no expectation could cover it. In a child the case
    fails at stage vela with the signal, and the worker goes on. A fork costs milliseconds: no
    re-import, and the child shares the parent's memory until it writes."""
    from etconform.stages import Stage, StageError, detail_of, one_line

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no return from here, no pytest or atexit hooks, only os._exit
        os.close(read)
        faulthandler.disable()  # pytest's dump of every thread on a segfault: the message says it
        try:
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):  # Vela prints its operator split, nowhere else
                sent: tuple = ("ok", compile_(*args, **kwargs), printed.getvalue())
        except BaseException as exc:  # noqa: BLE001 - Vela's argument parser exits
            sent = ("raised", one_line(exc), detail_of(exc))
        try:
            with os.fdopen(write, "wb") as pipe:
                pickle.dump(sent, pipe)
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        pid = 0
    finally:
        if pid:  # interrupted (a stage timeout): the child must not outlive its case
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise StageError(Stage.VELA, f"Vela crashed with {name} (its native part; run in a child process)")
    if not data:
        raise StageError(Stage.VELA, f"Vela's child process exited with status {os.waitstatus_to_exitcode(status)} and sent nothing")
    kind, *rest = pickle.loads(data)
    if kind == "raised":
        raise StageError(Stage.VELA, *rest)
    return rest[0], rest[1]


def total_estimate(summaries: list[dict[str, float]]) -> dict[str, float]:
    """Per-program estimate: the delegates run one after another, so times and cycles add."""
    if not summaries:
        return {}
    total: dict[str, Any] = {"delegates": len(summaries)}
    for key in (*_FIELDS, "cpu_operators", "npu_operators"):
        values = [s[key] for s in summaries if key in s]
        if values:
            total[key] = max(values) if key.endswith("memory_used") and key.startswith("sram") else sum(values)
    total["inference_time_ms"] = total.pop("inference_time", 0.0) * 1e3
    total["system_config"] = summaries[0].get("system_config", "")
    for key in ("accelerator", "memory_mode", "core_clock_mhz"):
        total[key] = summaries[0].get(key, "")
    return total
