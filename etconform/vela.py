"""Vela's estimate for each Ethos-U delegate, captured as each delegate is compiled.

Every Vela call writes the same output/out_summary_*.csv in the dump folder, so only
the last delegate's estimate would survive. We wrap ExecuTorch's own vela_compile
(the real one runs unchanged) and read the summary right after each call.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
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

        printed = io.StringIO()
        enter("vela")  # Vela runs inside the lowering: a crash in it is Vela's
        with contextlib.redirect_stdout(printed):  # Vela prints its operator split, nowhere else
            result = real(tosa_flatbuffer, args, **kwargs)
        enter("lower")
        path = kwargs.get("intermediate_path")
        summary = read_summary(Path(path) / "output") if path else {}
        summary.update(operator_split(printed.getvalue()))
        calls[digest(result.processed_bytes)] = VelaCall(tosa_flatbuffer, summary)
        return result

    ethosu_backend.vela_compile = observed
    try:
        yield calls
    finally:
        ethosu_backend.vela_compile = real


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
