"""XNNPACK int8: a tensor that a pad or an average pool reads, returned by the program as well.

    .venv/bin/python tools/repro_returned_tensor.py [TARGET ...]   (default: xnnpack_int8 xnnpack_fp32)

Each model is lowered twice through etconform's pipeline, returning only its output and
returning the inner tensor too (what --localize's taps do), and run on the ExecuTorch
runtime. Printed: each program's SQNR against eager and against quantized eager (the
module it was lowered from), or the error it fails with
(FINDINGS.md, XNNPACK).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from etconform.analysis.localize import sqnr_db  # noqa: E402
from etconform.lowering.pipeline import lower  # noqa: E402
from etconform.stages import StageError  # noqa: E402
from etconform.targets import TARGETS  # noqa: E402
from executors import EXECUTORS  # noqa: E402


class Model(nn.Module):
    """conv -> relu [-> + a second conv's output -> relu] -> pad and conv, or a global average pool."""

    def __init__(self, tail: str, residual: bool, returned: bool):
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3)
        self.tail, self.residual, self.returned = tail, residual, returned

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        r = torch.relu(self.a(x))
        if self.residual:
            r = torch.relu(r + self.b(r))
        y = self.c(nn.functional.pad(r, (1, 1, 1, 1))) if self.tail == "pad" else nn.functional.avg_pool2d(r, 8)
        return (y, r) if self.returned else y


def main(targets: list[str]) -> None:
    x = (torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)),)
    calibration = [(torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(i)),) for i in range(1, 5)]
    for target in targets:
        for tail, residual in (("pad", False), ("avg_pool2d", False), ("avg_pool2d", True)):
            for returned in (False, True):
                torch.manual_seed(1)
                model = Model(tail, residual, returned).eval()
                eager = model(*x)
                eager = eager[0] if returned else eager
                what = f"{target}: {tail}{' after a residual add' if residual else ''}, inner tensor " \
                       f"{'returned too' if returned else 'not returned'}:"
                with tempfile.TemporaryDirectory() as work:
                    try:
                        lowered = lower(model, x, TARGETS[target], Path(work), calibration)
                        out = EXECUTORS["et_runtime"].run(lowered, x, (0, 1)).outputs
                        recipe = lowered.quantized_module(*x) if lowered.quantized_module is not None else None
                    except StageError as err:
                        print(what, "fails:", err.message[-110:])
                        continue
                out = out[0] if isinstance(out, (list, tuple)) else out
                said = f"SQNR {sqnr_db(out, eager):.1f} dB against eager"
                if recipe is not None:  # the quantized module the program was lowered from: its own error
                    recipe = recipe[0] if returned else recipe
                    said += f", {sqnr_db(out, recipe):.1f} dB against quantized eager"
                print(what, said)


if __name__ == "__main__":
    main(sys.argv[1:] or ["xnnpack_int8", "xnnpack_fp32"])
