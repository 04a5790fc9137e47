"""Ethos-U55 weights and scale records, as Vela stores them for one operation.

Weights are mlw-compressed in an order (zero padding, NPU blocking, traversal) that the codec does
not expose; it is recovered by encoding index-tagged volumes with Vela's own encoder and decoding.
Scale records: 10 bytes per output channel, little-endian: 40-bit signed bias, 32-bit scale, 6-bit shift.
"""

from __future__ import annotations

import functools

import numpy as np

RECORD_BYTES = 10
_TAG_BASE = 255  # tags 1..255 fit the codec's 9-bit weights, and 0 is left to mean padding


def decode_scales(data: bytes, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bias, scale, shift) per output channel, as int64 arrays."""
    if len(data) < channels * RECORD_BYTES:
        raise ValueError(f"{len(data)} bytes of scale records for {channels} channels")
    records = np.frombuffer(data[: channels * RECORD_BYTES], dtype=np.uint8).reshape(channels, RECORD_BYTES)
    as_int = records.astype(np.int64)
    bias = sum(as_int[:, i] << (8 * i) for i in range(5))
    bias = np.where(bias >= 1 << 39, bias - (1 << 40), bias)
    scale = sum(as_int[:, 5 + i] << (8 * i) for i in range(4))
    shift = as_int[:, 9] & 0x3F
    return bias, scale, shift


def decode_weights(
    encoded: bytes, ohwi_shape: tuple[int, int, int, int], ofm_block_depth: int, depthwise: bool,
    part_kernel_first: bool,
) -> np.ndarray:
    """The OHWI int64 weight volume of one operation from its mlw-compressed stream."""
    from ethosu import mlw_codec

    order = _stream_order(ohwi_shape, ofm_block_depth, depthwise, part_kernel_first)
    values = np.array(mlw_codec.decode(bytearray(encoded)), dtype=np.int64)
    if len(values) != len(order):
        raise ValueError(f"weight stream holds {len(values)} values, a {ohwi_shape} volume takes {len(order)}")
    if np.any(values[order < 0]):
        raise ValueError("weight stream has values where Vela's encoder puts padding")
    weights = np.zeros(int(np.prod(ohwi_shape)), dtype=np.int64)
    weights[order[order >= 0]] = values[order >= 0]
    return weights.reshape(ohwi_shape)


@functools.cache
def _stream_order(
    ohwi_shape: tuple[int, ...], ofm_block_depth: int, depthwise: bool, part_kernel_first: bool,
) -> np.ndarray:
    """For each value of the decoded stream, the flat OHWI index of its weight, or -1 for padding."""
    from ethosu import mlw_codec
    from ethosu.vela.api import NpuBlockTraversal
    from ethosu.vela.architecture_features import Accelerator
    from ethosu.vela.weight_compressor import encode_weights

    count = int(np.prod(ohwi_shape))
    traversal = NpuBlockTraversal.PART_KERNEL_FIRST if part_kernel_first else NpuBlockTraversal.DEPTH_FIRST
    order, weight = None, 1
    while order is None or weight < count:  # one base-255 digit of every index per pass
        tags = (np.arange(count) // weight) % _TAG_BASE + 1
        encoded, _ = encode_weights(
            Accelerator.Ethos_U55_128, tags.reshape(ohwi_shape).astype(np.int16), (1, 1), 8, ofm_block_depth,
            depthwise, traversal,
        )
        digits = np.array(mlw_codec.decode(encoded), dtype=np.int64)
        if order is None:
            order = np.where(digits > 0, 0, -1)
        if np.any((digits > 0) != (order >= 0)):
            raise ValueError("Vela's encoder moved its padding between two passes")
        order = np.where(order >= 0, order + (digits - 1) * weight, -1)
        weight *= _TAG_BASE
    if sorted(order[order >= 0].tolist()) != list(range(count)):
        raise ValueError(f"the encoded order of a {ohwi_shape} volume is not a permutation")
    return order
