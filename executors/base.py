"""The small interface every executor has."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from executors.device_agent import timed

if TYPE_CHECKING:
    from etconform.lowering.pipeline import Lowered
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


class Executor:
    """What every executor declares; a subclass sets name, role and level and writes needs (or probe) and run."""

    name: str = ""
    role: str = ""  # "lowered" (runs the lowered program), "reference" (runs PyTorch), "estimate" (measures only)
    level: str = ""  # what a comparison of its outputs verifies: etconform.judging.policy.LEVELS
    cross_check: str | None = None  # another executor its outputs must also agree with, within one output step
    cacheable: bool = True  # its results may be served from the artifact cache
    needs_graph: bool = False  # runs the edge program: a cached .pte alone cannot serve it

    backends: tuple[str, ...] = ()  # the backends whose programs it runs; () for every backend
    off_backend = ""  # why not, for another backend's target

    def probe(self, target: Target) -> Availability:
        """Whether it can run `target`'s programs here; when not, what is missing and how to get it."""
        if self.backends and target.backend not in self.backends:
            return Availability(False, self.off_backend)
        return self.needs(target)

    def needs(self, target: Target) -> Availability:
        """What it needs beyond a program of its backends (modules, binaries, a device)."""
        return Availability(True)

    def run(self, lowered: Lowered, inputs: tuple[torch.Tensor, ...], timing: tuple[int, int] = (1, 5)) -> ExecResult:
        """Run once per sample; executors that time themselves use (warm-up runs, measured runs)."""
        raise NotImplementedError


def importable(*modules: str, install: str) -> Availability:
    """Available when every module imports; else the first that is missing and the command that installs it."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            return Availability(False, f"{exc.name or module} missing: {install}")
    return Availability(True)


def measure(fn: Callable[[], Any], warmup: int = 1, runs: int = 5) -> tuple[Any, dict[str, float]]:
    """Run fn warmup+runs times; the last output and the latency of the measured runs."""
    out, latency = timed(fn, warmup, runs)  # the device agent's own, which runs with the standard library alone
    return out, {**latency, "threads": torch.get_num_threads()}
