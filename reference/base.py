"""The small interface every executor has."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch

if TYPE_CHECKING:
    from etconform.lowering import Lowered
    from etconform.targets import Target


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str = ""  # when not ok: what is missing and how to get it


@dataclass
class ExecResult:
    outputs: Any  # None for executors that only estimate
    latency: dict[str, float] = field(default_factory=dict)
    estimate: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # Comparisons the executor made itself (name -> what disagreed; [] when it agreed), judged with the others.
    checks: dict[str, list[str]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # their measures, worst over the samples (known-failure ceilings)


class NotRunnable(Exception):  # noqa: N818 - a reason, not a failure
    """Raised by `run` when this program needs what the executor lacks: the record is a skip naming it."""


class Executor(Protocol):
    name: str
    role: str  # "lowered" (runs the lowered program), "reference" (runs PyTorch), "estimate" (measures only)
    level: str  # what a comparison of its outputs verifies: etconform.policy.LEVELS

    def probe(self, target: Target) -> Availability: ...

    def run(self, lowered: Lowered, inputs: tuple[torch.Tensor, ...], timing: tuple[int, int] = (1, 5)) -> ExecResult:
        """Run once per sample; executors that time themselves use (warm-up runs, measured runs)."""
        ...


def measure(fn: Callable[[], Any], warmup: int = 1, runs: int = 5) -> tuple[Any, dict[str, float]]:
    """Run fn warmup+runs times; the last output and the latency of the measured runs."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    ordered = sorted(times)
    median = statistics.median(times)
    return out, {
        "median_ms": round(median, 4),
        "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4),
        "cv": round(statistics.pstdev(times) / median, 4) if median else 0.0,
        "runs": runs,
        "warmup": warmup,
        "threads": torch.get_num_threads(),
    }
