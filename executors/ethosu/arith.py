"""Ethos-U55 integer arithmetic: rescaling with a round mode, and the OFM output stage.

Values are Python integers (numpy object arrays) while scaled: a 32-bit accumulator times a
32-bit scale, plus a rounding term, does not always fit int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Unsupported(Exception):
    """The stream asks for an operation, mode or layout that the functional model does not implement."""


def _natural(value: int, scale: int, shift: int) -> int:
    """Round half up: the TOSA RESCALE with single rounding."""
    product = value * scale
    return (product + (1 << (shift - 1))) >> shift if shift else product


def _tfl(value: int, scale: int, shift: int) -> int:
    """Double rounding as TFLite: a rounding doubling high multiply, then a rounding shift right."""
    if shift < 31:
        # TFLite shifts left first, then its doubling high multiply rounds once, half up: natural rounding
        # (as regor's own Scale() in compiler/graphir_optimiser.cpp has it for DBL with shift <= 31).
        return _natural(value, scale, shift)
    product = value * scale
    nudged = product + ((1 << 30) if product >= 0 else 1 - (1 << 30))
    high = nudged >> 31 if nudged >= 0 else -(-nudged >> 31)  # C division truncates toward zero
    exponent = shift - 31
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> exponent) + (1 if high & mask > threshold else 0)


def _exact(value: int, scale: int, shift: int) -> int:
    return value * scale


_ROUNDERS = {"NATURAL": _natural, "TFL": _tfl, "EXACT": _exact}


def rescale(values: np.ndarray, scale: Any, shift: Any, round_mode: str) -> np.ndarray:
    """values * scale / 2**shift with the round mode; scale and shift are scalars or per-channel arrays."""
    if np.all(np.asarray(shift) == 0):
        round_mode = "EXACT"  # nothing is shifted out: every round mode gives the product
    if round_mode not in _ROUNDERS:
        raise Unsupported(f"round mode {round_mode}")
    scaled = np.frompyfunc(_ROUNDERS[round_mode], 3, 1)(values.astype(object), np.asarray(scale, dtype=object),
                                                        np.asarray(shift, dtype=object))
    return np.asarray(scaled, dtype=object)


def output_stage(
    acc: np.ndarray, scale: Any, shift: Any, round_mode: str, zero_point: int, clamp: tuple[int, int],
) -> np.ndarray:
    """OFM values as int64: rescale, add the zero point, clamp to `clamp` (the activation range and the type)."""
    scaled = rescale(acc, scale, shift, round_mode) + zero_point
    return np.clip(scaled, *clamp).astype(np.int64)
