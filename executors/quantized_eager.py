"""The PT2E-converted (or source-transformed: 8da4w, fp16) module run in PyTorch: the reference for its target."""

from __future__ import annotations

import torch

from etconform.stages import Stage, stage
from executors.base import Availability, ExecResult, Executor, measure


class QuantizedEager(Executor):
    name = "quantized_eager"
    role = "reference"  # PyTorch, not the system under test
    level = "quantization"
    needs_graph = True  # runs the quantized module, which the cache does not keep

    def probe(self, target) -> Availability:  # noqa: ANN001
        ok = target.transformed  # a quantized target's module, or the fp16 one
        return Availability(ok, "" if ok else "float target: no quantized reference")

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        with stage(Stage.RUN), torch.no_grad():
            outputs, latency = measure(lambda: lowered.quantized_module(*inputs), warmup=0, runs=1)
        return ExecResult(outputs, latency)
