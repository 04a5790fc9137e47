"""Faults planted in the system under test (ExecuTorch, torchao, the TOSA tools), never in the suite.

Each takes the `setattr` to plant with: pytest's monkeypatch.setattr in a self-test (undone
after it), the builtin in a whole run (tests/faults/planted.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

SetAttr = Callable[[Any, str, Any], None]


def narrow(plant: SetAttr, **ranges: tuple[int, int]) -> None:
    """The Arm quantizer's int8 config with `field=(qmin, qmax)` narrowed: a quantizer that chooses badly."""
    import executorch.backends.arm.quantizer as arm

    real = arm.get_symmetric_quantization_config

    def config(*args, **kwargs):  # noqa: ANN202, ANN002, ANN003
        found = real(*args, **kwargs)
        return dataclasses.replace(found, **{name: dataclasses.replace(getattr(found, name), quant_min=lo, quant_max=hi)
                                             for name, (lo, hi) in ranges.items()})

    plant(arm, "get_symmetric_quantization_config", config)


def steps(plant: SetAttr, factor: float) -> None:
    """torchao's convert_pt2e with every per-tensor activation step times `factor`: < 1 clips the ranges, > 1 coarsens."""
    import torchao.quantization.pt2e.quantize_pt2e as pt2e

    real = pt2e.convert_pt2e

    def convert(prepared, *args, **kwargs):  # noqa: ANN001, ANN202, ANN002, ANN003
        module = real(prepared, *args, **kwargs)
        for node in list(module.graph.nodes):
            if node.target == torch.ops.quantized_decomposed.quantize_per_tensor.default:
                for n in [node, *node.users]:
                    n.args = (n.args[0], n.args[1] * factor, *n.args[2:])
        module.recompile()
        return module

    plant(pt2e, "convert_pt2e", convert)


def tosa_off_by_one(plant: SetAttr) -> None:
    """The TOSA reference model's int8/int16 outputs one step off, the sign alternating element by element."""
    import executors.ethosu_stream as stream
    from executors import tosa_ref

    real = tosa_ref.run_tosa

    def run(tosa, inputs, *args, **kwargs):  # noqa: ANN001, ANN202, ANN002, ANN003
        moved = []
        for out in real(tosa, inputs, *args, **kwargs):
            if out.dtype in (np.int8, np.int16):
                info = np.iinfo(out.dtype)
                sign = np.where(np.arange(out.size) % 2 == 0, 1, -1).reshape(out.shape)
                out = np.clip(out.astype(np.int32) + sign, info.min, info.max).astype(out.dtype)
            moved.append(out)
        return moved

    plant(tosa_ref, "run_tosa", run)
    plant(stream, "run_tosa", run)


def lut_one_entry(plant: SetAttr) -> None:
    """ExecuTorch's Arm 8-bit TABLE one entry off: the entry of input code 0."""
    from executorch.backends.arm._passes.insert_table_ops import InsertTableOpsPass

    real = InsertTableOpsPass.generate_8bit_table_values

    def generate(self, torch_op, in_quantargs, out_quantargs):  # noqa: ANN001, ANN202
        table, shift = real(self, torch_op, in_quantargs, out_quantargs)
        table = table.clone()
        table[128] = table[128] + 1 if table[128] < 127 else table[128] - 1
        return table, shift

    plant(InsertTableOpsPass, "generate_8bit_table_values", generate)


def partitioner_segfault(plant: SetAttr) -> None:
    """XNNPACK's partitioner killing its process with SIGSEGV, as a native crash in ExecuTorch would."""
    import os
    import signal

    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

    def partition(self, exported_program):  # noqa: ANN001, ANN202, ARG001
        os.kill(os.getpid(), signal.SIGSEGV)

    plant(XnnpackPartitioner, "partition", partition)
