"""Tolerances as data: defaults per kind of target, overridden per case and per target.

Float targets: |y - y_eager| <= atol + rtol * |y_eager|, elementwise.
Quantized targets, in steps of the output quantization scale s, elementwise:
  |y - y_quantized_eager| <= qtol_steps * s
      the lowering's own error: both sides compute on the same integers.
  |y - y_eager| <= float_qtol_steps * s + |eager(round(x)) - eager(x)|
      adds the quantization: round(x) puts each input on its quantization grid, so the
      second term is what the inputs' precision alone moves eager's output (steep
      sigmoid, offset layer_norm). float_qtol_steps = qtol_steps + quant_error_steps,
      which covers rounding the output (half a step), the weights and intermediates.
Models are held to aggregate metrics against eager instead (over all evaluation
samples): cosine similarity, SQNR, and top-1 / next-token agreement; float targets to
the float_ thresholds. A quantized operator whose output the quantizer left in float
is checked against eager on rounded inputs at the float tolerance, or, when quantized
intermediates feed it, on SQNR (float_output_*). Against quantized eager a quantized model must agree closely
(min_cosine_vs_quantized), which is where a lowering bug shows.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

FP32 = {"atol": 1e-4, "rtol": 1e-4}


@dataclass(frozen=True)
class Tolerance:
    atol: float = FP32["atol"]
    rtol: float = FP32["rtol"]
    qtol_steps: float = 1.0
    quant_error_steps: float = 2.0
    # A float output computed from quantized intermediates has no output step: aggregate.
    # 8-bit rounding of the intermediates keeps operators at 31-60 dB here (softsign of
    # large inputs lowest); the lowered program shares quantized eager's rounding.
    float_output_min_sqnr_db: float = 25.0
    float_output_min_sqnr_db_vs_quantized: float = 40.0
    # Models (aggregate, over every evaluation sample).
    # Per-tensor int8 PTQ of a deep random-weight network keeps cosine near 0.97 (MobileNetV2
    # here); integer requantization rounding, summed over 50 layers, moves a lowered program
    # off quantized eager's float-between-Q/DQ arithmetic to about 0.998.
    min_cosine: float = 0.95
    min_sqnr_db: float = 10.0
    min_cosine_vs_quantized: float = 0.995
    min_top1_agreement: float = 0.5
    min_next_token_agreement: float = 0.5
    float_min_cosine: float = 0.99999
    float_min_sqnr_db: float = 50.0

    @property
    def float_qtol_steps(self) -> float:
        return self.qtol_steps + self.quant_error_steps

    def model_dict(self, quantized: bool) -> dict[str, float]:
        if not quantized:
            return {"min_cosine": self.float_min_cosine, "min_sqnr_db": self.float_min_sqnr_db,
                    "min_top1_agreement": 1.0, "min_next_token_agreement": 1.0}
        return {"min_cosine": self.min_cosine, "min_sqnr_db": self.min_sqnr_db,
                "min_cosine_vs_quantized": self.min_cosine_vs_quantized,
                "min_top1_agreement": self.min_top1_agreement, "min_next_token_agreement": self.min_next_token_agreement}

    def as_dict(self, quantized: bool) -> dict[str, float]:
        if not quantized:
            return {"atol": self.atol, "rtol": self.rtol}
        return {"qtol_steps": self.qtol_steps, "quant_error_steps": self.quant_error_steps, "float_qtol_steps": self.float_qtol_steps}


_KEYS = {f.name for f in fields(Tolerance)}


def resolve(*overrides: dict[str, Any]) -> Tolerance:
    """Defaults, then each override in turn (case, then target expectations)."""
    tolerance = Tolerance()
    for override in overrides:
        unknown = set(override) - _KEYS
        if unknown:
            raise ValueError(f"unknown tolerance keys {sorted(unknown)}; known: {sorted(_KEYS)}")
        tolerance = replace(tolerance, **override)
    return tolerance
