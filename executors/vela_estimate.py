"""Vela's performance estimate for an Ethos-U program: measured, nothing to compare."""

from __future__ import annotations

from executors.base import Availability, ExecResult, Executor, importable


class VelaEstimate(Executor):
    name = "vela"
    role = "estimate"  # measures, compares nothing
    level = ""

    backends = ("ethos_u",)
    off_backend = "Vela compiles for Ethos-U targets only"

    def needs(self, target) -> Availability:  # noqa: ANN001
        return importable("ethosu.vela", install="pip install 'executorch[ethos-u]' (ethos-u-vela)")

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        estimate = lowered.vela_estimate
        notes = [] if estimate else ["nothing was delegated to the NPU: no estimate"]
        latency = {"vela_ms": round(estimate["inference_time_ms"], 6)} if estimate else {}
        return ExecResult(None, latency, estimate, notes)
