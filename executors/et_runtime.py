"""The ExecuTorch host runtime (pybindings with portable, quantized and XNNPACK kernels)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterator

from etconform.stages import Stage, StageError, stage
from executors.base import Availability, ExecResult, Executor, measure


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Collect what the runtime logs on stderr (why a load failed is only said there).

    Both fd 2 and sys.stderr: the pybindings may log through Python's stderr, which pytest's
    capture (or a caller) has pointed elsewhere.
    """
    lines: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink, contextlib.redirect_stderr(io.StringIO()) as text:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(sink.read().decode(errors="replace").splitlines())
            lines.extend(text.getvalue().splitlines())


def _explain(err: StageError, log: list[str]) -> StageError:
    useful = [line.split("] ", 1)[-1] for line in log if any(w in line for w in ("Missing operator", "rror", "ailed"))]
    if useful:
        err.message = f"{err.message} | runtime log: {' | '.join(useful[:3])}"[:1000]
        err.args = (f"[{err.stage.value}] {err.message}",)
    return err


class ExecuTorchRuntime(Executor):
    name = "et_runtime"
    role = "lowered"
    level = "runtime"

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

        log: list[str] = []
        try:
            with native_stderr() as log:  # filled when the block exits
                with stage(Stage.LOAD):
                    # A Method does not keep its Program alive: hold it while the method runs.
                    program = Runtime.get().load_program(lowered.pte)
                    method = program.load_method("forward")
                with stage(Stage.RUN):
                    outputs, latency = measure(lambda: method.execute(list(inputs)), *timing)
        except StageError as err:
            raise _explain(err, log) from err
        return ExecResult(outputs, latency)
