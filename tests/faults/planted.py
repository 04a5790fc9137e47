"""Faults planted in the system under test for whole runs: `-p tests.faults.planted` with ETCONFORM_PLANT=NAME.

Each one changes ExecuTorch, torchao or the TOSA tools as they are imported into the run
(workers included), never the suite: what the oracle must catch (docs/reference/oracle.md).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch


def _narrow(**ranges: tuple[int, int]) -> None:
    """The Arm quantizer's int8 config with some QuantizationSpecs' qmin/qmax narrowed."""
    import executorch.backends.arm.quantizer as arm

    real = arm.get_symmetric_quantization_config

    def config(*args, **kwargs):  # noqa: ANN202, ANN002, ANN003
        found = real(*args, **kwargs)
        return dataclasses.replace(found, **{name: dataclasses.replace(getattr(found, name), quant_min=lo, quant_max=hi)
                                             for name, (lo, hi) in ranges.items()})

    arm.get_symmetric_quantization_config = config


def _steps(factor: float) -> None:
    """torchao's convert_pt2e with every per-tensor activation step times `factor`."""
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

    pt2e.convert_pt2e = convert


def _tosa_off_by_one() -> None:
    """The TOSA reference model's int8/int16 outputs one step off, the sign alternating."""
    from reference import tosa_ref

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

    tosa_ref.run_tosa = run
    import reference.ethosu_stream as stream

    stream.run_tosa = run


def _lut_one_entry() -> None:
    """ExecuTorch's Arm 8-bit TABLE one entry off: the entry of input code 0."""
    from executorch.backends.arm._passes.insert_table_ops import InsertTableOpsPass

    real = InsertTableOpsPass.generate_8bit_table_values

    def generate(self, torch_op, in_quantargs, out_quantargs):  # noqa: ANN001, ANN202
        table, shift = real(self, torch_op, in_quantargs, out_quantargs)
        table = table.clone()
        table[128] = table[128] + 1 if table[128] < 127 else table[128] - 1
        return table, shift

    InsertTableOpsPass.generate_8bit_table_values = generate


FAULTS = {
    "levels32": lambda: _narrow(input_activation=(-16, 15), output_activation=(-16, 15)),
    "weights4bit": lambda: _narrow(weight=(-7, 7)),
    "clip_quarter": lambda: _steps(0.25),
    "coarse3x": lambda: _steps(3.0),
    "tosa_off_by_one": _tosa_off_by_one,
    "lut_one_entry": _lut_one_entry,
}

FAULTS[os.environ["ETCONFORM_PLANT"]]()
