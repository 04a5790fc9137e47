"""Vela's command stream on a functional model of the Ethos-U55 or U85, held exactly to the TOSA reference model.

The lowered program runs on the host as under tosa_ref; each Ethos-U delegate call runs what the
device would receive (the delegate's processed bytes: command stream, weights and scales) on the
functional model of its NPU (executors/ethosu/npu.py, npu85.py: chosen by the stream's driver config
word), and the TOSA graph Vela compiled on the TOSA reference model, on the same integer inputs. The two must agree value for value (check "vs_tosa"); the
stream's outputs flow on through the program. A stream using what the model lacks (an opcode, a
mode, another NPU) is a skip that names it, never a pass.
Limits: no hardware ground truth (the semantics are Vela's own definitions), no timing hazards.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from etconform.lowering.vela import digest
from etconform.stages import Stage, StageError
from executors.base import Availability, ExecResult, Executor, NotRunnable, importable
from executors.ethosu.arith import Unsupported
from executors.ethosu.npu import run_stream
from executors.ethosu.npu85 import run_stream_u85
from executors.ethosu.package import Package, fast_scratch_bytes, parse
from executors.ethosu.stream85 import npu_of
from executors.tosa_ref import DelegateCalls, delegate_fakes, delegate_outputs, run_edge, run_tosa

# The functional model of each NPU (executors/ethosu/npu.py, npu85.py), by the stream's driver config word.
MODELS = {"ethos-u55": run_stream, "ethos-u85": run_stream_u85}
MODELLED = tuple(MODELS)
_IO_TYPES = (np.int8, np.int16, np.int32)  # what the models read and write (Vela records only element sizes)
CHECK = "vs_tosa"
MAX_DIFF, DIFFERING = "max_diff_vs_tosa", "values_differing_vs_tosa"  # in output LSBs; over every delegate call


def disagreement(label: str, stream: list[np.ndarray], tosa: list[np.ndarray], metrics: dict[str, float]) -> list[str]:
    """What differs between the stream's and the TOSA reference model's integer outputs (none: []);
    adds the largest difference and the number of values that differ to `metrics`."""
    if len(stream) != len(tosa):
        return [f"{label}: the stream gives {len(stream)} outputs, the TOSA reference model {len(tosa)}"]
    found = []
    for i, (s, t) in enumerate(zip(stream, tosa)):
        if s.size != t.size or s.dtype != t.dtype:
            found.append(f"{label}, output {i}: the stream gives {s.dtype}{list(s.shape)}, "
                         f"the TOSA reference model {t.dtype}{list(t.shape)}")
            continue
        diff = np.abs(s.reshape(-1).astype(np.int64) - t.reshape(-1).astype(np.int64))
        metrics[MAX_DIFF] = max(metrics.get(MAX_DIFF, 0), int(diff.max(initial=0)))
        metrics[DIFFERING] = metrics.get(DIFFERING, 0) + int((diff > 0).sum())
        if diff.any():
            at = int(diff.argmax())
            found.append(f"{label}, output {i}: {int((diff > 0).sum())} of {diff.size} values differ from the TOSA "
                         f"reference model, largest difference {int(diff[at])} (stream {int(s.reshape(-1)[at])}, "
                         f"TOSA {int(t.reshape(-1)[at])} at flat index {at})")
    return found


def io_mismatch(package: Package, module: Any) -> str:
    """What differs between the outputs Vela's package writes and those the delegate's graph returns ("" if none).

    ExecuTorch's Ethos-U runtime copies the package's outputs to the delegate's by position.
    """
    fakes = delegate_fakes(module)
    vela = [math.prod(io.shape) for io in package.outputs]
    if vela == [f.numel() for f in fakes]:
        return ""
    return (f"Vela's package writes {len(vela)} output(s) of {vela} values where the delegate's TOSA graph returns "
            f"{len(fakes)}, {[list(f.shape) for f in fakes]}: the runtime copies outputs by position, so the "
            f"program's outputs would be wrong or refused")


def _as_bool(values: np.ndarray) -> np.ndarray:
    """A bool output as the stream writes it (one byte, 0 or 1); any other byte stays to be reported."""
    return values.astype(np.bool_) if np.isin(values, (0, 1)).all() else values


class _DelegatesOnStream(DelegateCalls):
    """Runs every executorch_call_delegate on the functional model and on the TOSA reference model."""

    def __init__(self, delegates: dict[str, tuple[int, bytes | None, int]]):
        super().__init__()
        # digest of the processed bytes -> (index in lowered.delegates, TOSA graph, fast scratch bytes)
        self.delegates = delegates
        self.disagreements: list[str] = []
        self.metrics: dict[str, float] = {MAX_DIFF: 0, DIFFERING: 0}
        self.lacking = ""  # what the functional model lacks, once a call needed it

    def _lacks(self, what: str) -> NotRunnable:
        self.lacking = what
        return NotRunnable(what)

    def call(self, module: Any, inputs: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
        index, tosa, fast_scratch = self.delegates.get(digest(module.processed_bytes), (None, None, 0))
        if tosa is None:
            raise StageError(Stage.RUN, f"delegate {module.backend_id} has no TOSA graph to hold its stream to")
        for i, array in enumerate(inputs):
            if array.dtype not in _IO_TYPES and array.dtype != np.bool_:
                raise self._lacks(f"delegate {index} input {i} is {array.dtype}: the functional models take "
                                  f"8, 16 and 32-bit integers and bools")
        try:
            package = parse(module.processed_bytes)
            wrong = io_mismatch(package, module)
            if wrong:
                raise StageError(Stage.VELA, f"delegate {index}: {wrong}")
            npu, _ = npu_of(package.cmd_data)
            if npu not in MODELS:
                raise Unsupported(f"a stream for the {npu}")
            ints = [a.astype(np.int8) if a.dtype == np.bool_ else a for a in inputs]  # a bool is one byte, 0 or 1
            stream = MODELS[npu](package.as_vela(fast_scratch), ints)
        except Unsupported as what:
            raise self._lacks(f"the functional model lacks {what} (delegate {index})") from what
        except ValueError as exc:
            raise StageError(Stage.RUN, f"delegate {index}: the functional model rejects its stream: {exc}") from exc
        label = f"delegate {index} (call {self.calls})"
        tosa_outputs = run_tosa(tosa, inputs)
        stream = [_as_bool(s) if t.dtype == np.bool_ else s for s, t in zip(stream, tosa_outputs)]
        self.disagreements += disagreement(label, stream, tosa_outputs, self.metrics)
        return delegate_outputs(module, stream)


class EthosUStream(Executor):
    name = "stream"
    role = "lowered"
    level = "stream"
    needs_graph = True

    backends = ("ethos_u",)
    off_backend = "only Ethos-U programs carry a Vela command stream"

    def needs(self, target) -> Availability:  # noqa: ANN001
        if not target.ethos_u_config.startswith(MODELLED):
            return Availability(False, f"no functional model of the {target.ethos_u_config} "
                                       f"(executors/ethosu/npu.py and npu85.py model the {', '.join(MODELLED)})")
        return importable("ethosu.mlw_codec", "tosa_reference_model",
                          install="pip install 'executorch[ethos-u]' (ethos-u-vela, tosa-tools)")

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        delegates = {d.digest: (i, d.tosa, fast_scratch_bytes(str(d.vela.get("memory_mode", ""))))
                     for i, d in enumerate(lowered.delegates)}
        mode = _DelegatesOnStream(delegates)
        try:
            outputs = run_edge(lowered, inputs, mode)
        except StageError:
            if mode.lacking:  # the program's call stack wrapped it: a skip, not a failure
                raise NotRunnable(mode.lacking) from None
            raise
        if not mode.calls:
            raise NotRunnable("no delegate: there is no command stream to run")
        return ExecResult(outputs, {}, checks={CHECK: mode.disagreements}, metrics=mode.metrics)
