"""Ethos-U85 weights and scale records, as Vela 5.1.0 (regor) stores them for one operation.

The weight order is a port of regor's EthosU85WeightOrdering (ethos_u85_weight_encoder.cpp) for one
weight decoder (Ethos-U85-128/256); the stream is the default mlw format, decoded by the wheel's codec.
Scale records (EncodeBias32/EncodeBias48): 10 bytes per output channel, little-endian, padded to a
multiple of 16 channels. 32-bit accumulator: 32-bit bias, 31-bit scale, 6-bit shift; 48-bit
accumulator: 48-bit bias, 15-bit scale, 6-bit shift.
"""

from __future__ import annotations

import functools

import numpy as np

from executors.ethosu.arith import Unsupported

RECORD_BYTES = 10
_INTERLEAVE = 4  # OFM channels fed together (regor: InterleaveDepth)


def decode_scales(data: bytes, channels: int, acc_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bias, scale, shift) per output channel, as int64 arrays."""
    if len(data) < channels * RECORD_BYTES:
        raise ValueError(f"{len(data)} bytes of scale records for {channels} channels")
    records = np.frombuffer(data[: channels * RECORD_BYTES], dtype=np.uint8).reshape(channels, RECORD_BYTES)
    as_int = records.astype(np.int64)
    bias_bytes = {32: 4, 48: 6}[acc_bits]
    bias = sum(as_int[:, i] << (8 * i) for i in range(bias_bytes))
    bias = np.where(bias >= 1 << (8 * bias_bytes - 1), bias - (1 << (8 * bias_bytes)), bias)
    scale_bytes = 8 - bias_bytes  # 4 (31 bits used) or 2 (15 bits used)
    scale = sum(as_int[:, bias_bytes + i] << (8 * i) for i in range(scale_bytes))
    shift = as_int[:, 8] & 0x3F
    if np.any(records[:, 9]) or np.any(scale >> (8 * scale_bytes - 1)) or np.any(as_int[:, 8] >> 6):
        raise ValueError("scale records set bits regor's encoder leaves zero")
    return bias, scale, shift


def decode_weights(
    encoded: bytes, ohwi_shape: tuple[int, int, int, int], traversal: str, stride: tuple[int, int],
    ofm_block_depth: int, ifm_block_depth: int, ofm_ublock_depth: int, sparse: bool,
) -> np.ndarray:
    """The OHWI int64 weight volume of one operation from its mlw-compressed stream (8-bit IFM, one core)."""
    from ethosu import mlw_codec

    order = _stream_order(ohwi_shape, traversal, stride, ofm_block_depth, ifm_block_depth, ofm_ublock_depth, sparse)
    values = np.array(mlw_codec.decode(bytearray(encoded)), dtype=np.int64)
    if len(values) != len(order):
        raise ValueError(f"weight stream holds {len(values)} values, a {ohwi_shape} volume in regor's order "
                         f"takes {len(order)}")
    if np.any(values[order < 0]):
        raise ValueError("weight stream has values where regor's encoder puts padding")
    weights = np.zeros(int(np.prod(ohwi_shape)), dtype=np.int64)
    weights[order[order >= 0]] = values[order >= 0]
    return weights.reshape(ohwi_shape)


@functools.cache
def _stream_order(
    ohwi_shape: tuple[int, int, int, int], traversal: str, stride: tuple[int, int], ofm_block_depth: int,
    ifm_block_depth: int, ofm_ublock_depth: int, sparse: bool,
) -> np.ndarray:
    """For each value of the stream, the flat OHWI index of its weight, or -1 for padding.

    regor's EthosU85WeightOrdering::GetNext for one stream, 8-bit IFM, dilation 1; 2:4 sparse weights
    are ordered in steps of 16 IFM channels (the stream still holds every value, zeros included)."""
    ofm_depth, kernel_h, kernel_w, ifm_depth = ohwi_shape
    depthwise = traversal == "DEPTHWISE"
    if traversal == "PART_KERNEL_FIRST":
        sub_kernel_round, ifm_ublock_depth = 10 if sparse else 5, ifm_block_depth
    elif traversal == "DEPTH_FIRST":
        stride, sub_kernel_round, ifm_ublock_depth = (1, 1), 1, ifm_block_depth
    elif depthwise:
        sub_kernel_round, ifm_ublock_depth = 10, 1
    else:
        raise Unsupported(f"weight traversal {traversal}")
    stride_x, stride_y = stride
    decomp = 8  # sub-kernels of at most 8x8 (8 / dilation)
    inner_step = 1 if depthwise else 16 if sparse else 8
    order: list[int] = []
    ifm_loop_inc = -ifm_block_depth
    for ofm_block_z in range(0, ofm_depth, ofm_block_depth):
        ifm_loop_inc = -ifm_loop_inc  # IFM blocks go up, then down, then up (a serpentine)
        clipped_ofm = min(ofm_block_depth, ofm_depth - ofm_block_z)
        ifm_blocks = [0] if depthwise else list(range(0, ifm_depth, ifm_block_depth))
        if ifm_loop_inc < 0:
            ifm_blocks = ifm_blocks[::-1]
        for ifm_block_z in ifm_blocks:
            clipped_ifm = min(ifm_block_depth, ifm_depth - ifm_block_z)
            for sub_x in range(0, kernel_w, decomp):
                sub_w = min(kernel_w - sub_x, decomp)
                for sub_y in range(0, kernel_h, decomp):
                    sub_h = min(kernel_h - sub_y, decomp)
                    for ifm_outer in range(0, 1 if depthwise else clipped_ifm, ifm_ublock_depth):
                        for ofm_outer in range(0, clipped_ofm, ofm_ublock_depth):
                            elements = -(-(sub_w * sub_h) // sub_kernel_round) * sub_kernel_round
                            for phase_y in range(stride_y):
                                strided_h = (sub_h + stride_y - 1 - phase_y) // stride_y
                                for phase_x in range(stride_x):
                                    strided_w = (sub_w + stride_x - 1 - phase_x) // stride_x
                                    for ky in range(strided_h):
                                        for kx_step in range(strided_w):
                                            kx = kx_step if ky % 2 == 0 else strided_w - 1 - kx_step
                                            elements -= 1
                                            wx = sub_x + phase_x + kx * stride_x
                                            wy = sub_y + phase_y + ky * stride_y
                                            for ifm_inner in range(0, ifm_ublock_depth, inner_step):
                                                for ofm_ublock_z in range(0, ofm_ublock_depth, _INTERLEAVE):
                                                    for ofm_inner in range(_INTERLEAVE):
                                                        for ifm_z in range(inner_step):
                                                            i = ifm_block_z + ifm_outer + ifm_inner + ifm_z
                                                            o = ofm_block_z + ofm_outer + ofm_inner + ofm_ublock_z
                                                            if i < ifm_depth and o < ofm_depth:
                                                                c = 0 if depthwise else i
                                                                order.append(((o * kernel_h + wy) * kernel_w + wx)
                                                                             * (1 if depthwise else ifm_depth) + c)
                                                            else:
                                                                order.append(-1)
                                    # depthwise padding: none for 8-bit IFMs on 128/256 MACs
                            if elements > 0:
                                order += [-1] * (elements * ifm_ublock_depth * ofm_ublock_depth)
    return np.array(order, dtype=np.int64)
