"""The ExecuTorch host runtime (pybindings with portable, quantized and XNNPACK kernels)."""

from __future__ import annotations

from etconform.stages import Stage, stage
from reference.base import Availability, ExecResult, measure


class ExecuTorchRuntime:
    name = "et_runtime"
    compares = True

    def probe(self, target) -> Availability:  # noqa: ANN001
        if target.backend == "ethos_u":
            return Availability(False, "Ethos-U delegates need an NPU: use tosa_ref, fvp or a device")
        try:
            import executorch.kernels.quantized  # noqa: F401 - registers the quantized CPU kernels
            from executorch.runtime import Runtime  # noqa: F401
        except ImportError as exc:
            return Availability(False, f"executorch runtime pybindings missing ({exc}): reinstall executorch")
        return Availability(True)

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        from executorch.runtime import Runtime

        with stage(Stage.LOAD):
            method = Runtime.get().load_program(lowered.pte).load_method("forward")
        with stage(Stage.RUN):
            outputs, latency = measure(lambda: method.execute(list(inputs)), *timing)
        return ExecResult(outputs, latency)
