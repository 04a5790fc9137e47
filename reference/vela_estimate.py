"""Vela's performance estimate for an Ethos-U program: measured, nothing to compare."""

from __future__ import annotations

from reference.base import Availability, ExecResult


class VelaEstimate:
    name = "vela"
    role = "estimate"  # measures, compares nothing
    level = ""

    def probe(self, target) -> Availability:  # noqa: ANN001
        if target.backend != "ethos_u":
            return Availability(False, "Vela compiles for Ethos-U targets only")
        try:
            import ethosu.vela  # noqa: F401
        except ImportError:
            return Availability(False, "ethos-u-vela is not installed: pip install 'executorch[ethos-u]'")
        return Availability(True)

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        estimate = lowered.vela_estimate
        notes = [] if estimate else ["nothing was delegated to the NPU: no estimate"]
        latency = {"vela_ms": round(estimate["inference_time_ms"], 6)} if estimate else {}
        return ExecResult(None, latency, estimate, notes)
