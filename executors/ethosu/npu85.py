"""A functional model of the Ethos-U85 (128/256 MACs) that runs one Vela 5.1.0 command stream on numpy.

The register commands (executors/ethosu/stream85.py) set registers that persist from one operation
to the next; operations read them and move int8 feature maps between memory regions. Anything not
implemented raises Unsupported, naming it: the model never returns a guess. Timing is not modelled.
Covers: CONV and DEPTHWISE with 8-bit IFMs (stride, padding, depth-first and part-kernel-first
weights, SWD format dense or 2:4 sparse, the accumulator loaded from IFM2 for split kernels), CONV
with weights from IFM2 (regor's MatMul); POOL SUM, MAX, MIN, REDUCE_SUM, AVERAGE (as TOSA's
AVG_POOL2D), NONE from IFM2; ELEMENTWISE ADD, SUB, MUL, MIN, MAX, ABS, comparisons and bitwise
modes, with operand scales and broadcast (H, W, C, scalar); RESIZE NEAREST and BILINEAR; 8-bit LUTs
in the LUT RAM; chained OFM -> IFM; OFM transposes and reverses; 1D, 2D, 3D DMA, gathers and scatters
(from regor's generator); NHWC and NHCWB16; 8/16/32-bit feature maps; 32- and 48-bit accumulators; round
modes NATURAL, SYMMETRIC, TRUNCATE_TO_ZERO, TRUNCATE_TO_LOWER (any mode when no bits are shifted
out). Not yet confirmed by an exact smoke case: POOL AVERAGE, round modes SYMMETRIC and
TRUNCATE_*.
Not yet: POOL ARGMAX, RESIZE REPLICATE, LRELU, shifts, CLZ, DIV, dilation, FWD weights,
accumulator KEEP, 16-bit IFMs to convolutions, 16-bit LUTs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from executors.ethosu.arith import Unsupported
from executors.ethosu.stream import Command
from executors.ethosu.stream85 import decode, npu_of
from executors.ethosu.weights85 import decode_scales, decode_weights

__all__ = ["Unsupported", "run_stream_u85"]

LUT = "lut"  # the LUT RAM, reached by DMA with the internal bit set (regor: lutram, 2 KiB, slots of 256 bytes)
LUT_RAM_BYTES, LUT_SLOT_BYTES = 2048, 256
# (activation_type, activation_precision) -> the element type of a feature map
_DTYPES = {
    ("ACTIVATION_TYPE_SIGNED", "ACTIVATION_PRECISION_B8"): np.int8,
    ("ACTIVATION_TYPE_UNSIGNED", "ACTIVATION_PRECISION_B8"): np.uint8,
    ("ACTIVATION_TYPE_SIGNED", "ACTIVATION_PRECISION_B16"): np.int16,
    ("ACTIVATION_TYPE_UNSIGNED", "ACTIVATION_PRECISION_B16"): np.uint16,
    ("ACTIVATION_TYPE_SIGNED", "ACTIVATION_PRECISION_B32"): np.int32,
}
# 8-bit table lookups -> the OFM type they apply to (256 entries, one slot of the LUT RAM)
_LUT_8BIT = {"ACTIVATION_FUNCTION_LUT_S8_S8": np.int8, "ACTIVATION_FUNCTION_LUT_U8_U8": np.uint8}
_NO_EFFECT = ("NPU_OP_DMA_WAIT", "NPU_OP_KERNEL_WAIT", "NPU_OP_PMU_MASK", "NPU_OP_IRQ")  # timing and events
# OFM microblock -> its depth on each MAC configuration (regor's s_EthosU85Configs).
_UBLOCK_DEPTH = {128: {"MICROBLOCK_U1X2": 8, "MICROBLOCK_U1X1": 16},
                 256: {"MICROBLOCK_U1X2": 16, "MICROBLOCK_U1X4": 8, "MICROBLOCK_U2X2": 8}}
# Elementwise modes on scaled operands (regor: IFM scales are unit for MUL, MIN, MAX).
_ELEMENTWISE = {
    "ELEMENTWISE_MODE_ADD": lambda a, b: a + b,
    "ELEMENTWISE_MODE_SUB": lambda a, b: a - b,
    "ELEMENTWISE_MODE_MUL": lambda a, b: a * b,
    "ELEMENTWISE_MODE_MIN": np.minimum,
    "ELEMENTWISE_MODE_MAX": np.maximum,
    "ELEMENTWISE_MODE_ABS": lambda a, _: np.abs(a),
    # Comparisons give an all-ones mask (-1) for true: inferred from matching TOSA through the bitwise ops after them.
    "ELEMENTWISE_MODE_CMP_EQ": lambda a, b: -(a == b).astype(np.int64),
    "ELEMENTWISE_MODE_CMP_NE": lambda a, b: -(a != b).astype(np.int64),
    "ELEMENTWISE_MODE_CMP_GE": lambda a, b: -(a >= b).astype(np.int64),
    "ELEMENTWISE_MODE_CMP_GT": lambda a, b: -(a > b).astype(np.int64),
    "ELEMENTWISE_MODE_AND": lambda a, b: a.astype(np.int64) & b.astype(np.int64),
    "ELEMENTWISE_MODE_OR": lambda a, b: a.astype(np.int64) | b.astype(np.int64),
    "ELEMENTWISE_MODE_XOR": lambda a, b: a.astype(np.int64) ^ b.astype(np.int64),
    "ELEMENTWISE_MODE_AND_NOT": lambda a, b: a.astype(np.int64) & ~b.astype(np.int64),
    "ELEMENTWISE_MODE_NOT": lambda a, _: ~a.astype(np.int64),
}
_UNARY = ("ELEMENTWISE_MODE_ABS", "ELEMENTWISE_MODE_NOT")
# round mode -> (value * scale + rounding term) >> shift, on Python integers; a sign means toward/away from zero
_ROUNDERS = {
    "NATURAL": lambda p, s: (p + (1 << (s - 1))) >> s,  # half up (TOSA's single rounding)
    "SYMMETRIC": lambda p, s: (abs(p) + (1 << (s - 1))) >> s if p >= 0 else -((abs(p) + (1 << (s - 1))) >> s),
    "TRUNCATE_TO_ZERO": lambda p, s: abs(p) >> s if p >= 0 else -(abs(p) >> s),
    "TRUNCATE_TO_LOWER": lambda p, s: p >> s,
}


def run_stream_u85(vela: str | Path | Mapping[str, Any], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of one delegate's Vela output (out_vela.npz, or its arrays) on `inputs`.

    Inputs and outputs are signed integers of the element size Vela records (int8 for an int8 delegate;
    a bool is passed and returned as int8 0/1)."""
    if isinstance(vela, (str, Path)):
        with np.load(vela, allow_pickle=True) as data:
            vela = {key: data[key] for key in data.files}
    cmd_data = np.asarray(vela["cmd_data"]).tobytes()
    product, macs = npu_of(cmd_data)
    if product != "ethos-u85" or macs not in _UBLOCK_DEPTH:
        raise Unsupported(f"{product} with {macs} MACs per cycle")
    npu = Npu85(macs, _memory(vela, inputs))
    for command in decode(cmd_data):
        if command.name == "NPU_OP_STOP":
            break
        npu.execute(command)
    else:
        raise ValueError("the command stream has no NPU_OP_STOP")
    return [
        _read_io(npu.memory, vela, "output", i).reshape(_shape(vela["output_shape"][i]))
        for i in range(len(vela["output_shape"]))
    ]


def _shape(shape6: np.ndarray) -> tuple[int, ...]:
    """Vela's 6-D I/O shape as the delegate's 4-D tensor."""
    shape = [int(n) for n in shape6]
    while len(shape) > 4 and shape[0] == 1:
        shape.pop(0)
    return tuple(shape)


def _io_dtype(vela: Mapping[str, Any], prefix: str, i: int) -> np.dtype:
    """The signed integer type of an input or output, from its element size (Vela records no more)."""
    size = int(vela[f"{prefix}_elem_size"][i])
    if size not in (1, 2, 4):
        raise Unsupported(f"{prefix} {i} of {size}-byte elements")
    return np.dtype(f"<i{size}")


def _io_bytes(vela: Mapping[str, Any], prefix: str, i: int) -> int:
    return int(np.prod(vela[f"{prefix}_shape"][i])) * _io_dtype(vela, prefix, i).itemsize


def _memory(vela: Mapping[str, Any], inputs: list[np.ndarray]) -> dict[int | str, bytearray]:
    memory: dict[int | str, bytearray] = {int(vela["weight_region"]): bytearray(np.asarray(vela["weight_data"]).tobytes())}
    for prefix in ("scratch", "scratch_fast"):
        if int(vela[f"{prefix}_size"]):
            memory.setdefault(int(vela[f"{prefix}_region"]), bytearray(int(vela[f"{prefix}_size"])))
    if len(inputs) != len(vela["input_shape"]):
        raise ValueError(f"{len(inputs)} inputs for a stream of {len(vela['input_shape'])}")
    for prefix in ("input", "output"):
        for i in range(len(vela[f"{prefix}_shape"])):
            region = int(vela[f"{prefix}_region"][i])
            end = int(vela[f"{prefix}_offset"][i]) + _io_bytes(vela, prefix, i)
            memory.setdefault(region, bytearray(end))
            if len(memory[region]) < end:
                raise ValueError(f"{prefix} {i} ends at {end}, beyond region {region} ({len(memory[region])} bytes)")
    for i, array in enumerate(inputs):
        dtype = _io_dtype(vela, "input", i)
        if array.dtype != dtype or array.size != int(np.prod(vela["input_shape"][i])):
            raise ValueError(f"input {i} is {array.dtype}{list(array.shape)}, the stream takes {dtype} "
                             f"{vela['input_shape'][i].tolist()}")
        offset = int(vela["input_offset"][i])
        memory[int(vela["input_region"][i])][offset : offset + array.nbytes] = np.ascontiguousarray(array).tobytes()
    memory[LUT] = bytearray(LUT_RAM_BYTES)
    return memory


def _read_io(memory: dict[int | str, bytearray], vela: Mapping[str, Any], prefix: str, i: int) -> np.ndarray:
    offset = int(vela[f"{prefix}_offset"][i])
    data = memory[int(vela[f"{prefix}_region"][i])][offset : offset + _io_bytes(vela, prefix, i)]
    return np.frombuffer(bytes(data), dtype=_io_dtype(vela, prefix, i)).copy()


@dataclass
class FeatureMap:
    region: int
    bases: tuple[int, int, int, int]  # tiles: top-left, top-right, bottom-left, bottom-right
    height0: int
    height1: int
    width0: int
    stride_y: int
    stride_x: int
    stride_c: int
    layout: str
    zero_point: int
    chained: bool  # held in the chaining buffer between two operations, not in memory
    dtype: np.dtype

    def addresses(self, height: int, width: int, depth: int) -> np.ndarray:
        """Byte address of every (y, x, c, byte of the element); tiles as in Vela's get_address."""
        y, x, c = np.arange(height)[:, None, None], np.arange(width)[None, :, None], np.arange(depth)[None, None, :]
        right = x >= self.width0
        below = np.where(right, y >= self.height1, y >= self.height0)
        y = y - np.where(below, np.where(right, self.height1, self.height0), 0)
        x = x - np.where(right, self.width0, 0)
        base = np.array(self.bases)[right * 1 + below * 2]
        size = self.dtype.itemsize
        channel = c * size if self.layout == "ACTIVATION_FORMAT_NHWC" else (c // 16) * self.stride_c + c % 16 * size
        return (base + y * self.stride_y + x * self.stride_x + channel)[..., None] + np.arange(size)


class Npu85:
    """Register file and memories of one Ethos-U85; `execute` runs one command."""

    def __init__(self, macs: int, memory: dict[int | str, bytearray]):
        self.macs = macs
        self.memory = memory
        self.registers: dict[str, Command] = {}
        self.chains: dict[int, np.ndarray] = {}  # chain buffer (the REGION register) -> (height, width, depth)

    def execute(self, command: Command) -> None:
        if command.name.startswith("NPU_SET_"):
            self.registers[command.name] = command
        elif command.name in _NO_EFFECT:
            return
        elif command.name == "NPU_OP_DMA_START":
            self._dma()
        elif command.name in ("NPU_OP_CONV", "NPU_OP_DEPTHWISE"):
            if command.fields.get("weights_ifm2"):
                self._matmul()
            else:
                self._convolution(depthwise=command.name == "NPU_OP_DEPTHWISE")
        elif command.name == "NPU_OP_POOL":
            self._pool(str(command.fields["pooling_mode"]))
        elif command.name == "NPU_OP_ELEMENTWISE":
            self._elementwise(str(command.fields["elementwise_mode"]))
        elif command.name == "NPU_OP_RESIZE":
            self._resize(str(command.fields["resize_mode"]))
        else:
            raise Unsupported(f"operation {command.name}")

    # Registers, by their name without NPU_SET_
    def field(self, name: str, key: str) -> int | str:
        if f"NPU_SET_{name}" not in self.registers:
            raise ValueError(f"the stream reads NPU_SET_{name} before setting it")
        return self.registers[f"NPU_SET_{name}"].fields[key]

    def number(self, name: str, key: str) -> int:
        return int(self.field(name, key))

    def signed16(self, name: str, key: str) -> int:
        value = self.number(name, key)
        return value - (1 << 16) if value & 0x8000 else value

    def feature_map(self, prefix: str) -> FeatureMap:
        precision = self.registers[f"NPU_SET_{prefix}_PRECISION"].fields if f"NPU_SET_{prefix}_PRECISION" in \
            self.registers else {}
        kind = (precision.get("activation_type"), precision.get("activation_precision"))
        if kind not in _DTYPES:
            raise Unsupported(f"{prefix} precision {kind[0]} {kind[1]}")
        dtype = np.dtype(_DTYPES[kind])
        storage = precision["activation_storage"]
        if storage not in ("ACTIVATION_STORAGE_TILE2X2", "ACTIVATION_STORAGE_CHAINED"):
            raise Unsupported(f"{prefix} {storage}")
        chained = storage == "ACTIVATION_STORAGE_CHAINED"
        region = self.number(f"{prefix}_REGION", "region")  # a chain buffer when chained
        zero_point = self.signed16(f"{prefix}_ZERO_POINT", "zero_point")
        layout = str(precision["activation_format"])
        if chained:  # no address, tiles or strides
            return FeatureMap(region, (0, 0, 0, 0), 0, 0, 0, 0, 0, 0, layout, zero_point, chained, dtype)
        return FeatureMap(
            region=region,
            bases=tuple(self.number(f"{prefix}_BASE{i}", "addr") for i in range(4)),
            height0=self.number(f"{prefix}_HEIGHT0_M1", "height_m1") + 1,
            height1=self.number(f"{prefix}_HEIGHT1_M1", "height_m1") + 1,
            width0=self.number(f"{prefix}_WIDTH0_M1", "width_m1") + 1,
            stride_y=self.number(f"{prefix}_STRIDE_Y", "addr"),
            stride_x=self.number(f"{prefix}_STRIDE_X", "addr"),
            stride_c=self.number(f"{prefix}_STRIDE_C", "addr"),
            layout=layout,
            zero_point=zero_point,
            chained=chained,
            dtype=dtype,
        )

    def ofm_shape(self) -> tuple[int, int, int]:
        return tuple(self.number(f"OFM_{d}_M1", f"{d.lower()}_m1") + 1 for d in ("HEIGHT", "WIDTH", "DEPTH"))

    # Memory
    def read(self, fm: FeatureMap, height: int, width: int, depth: int) -> np.ndarray:
        """The feature map as int64 (height, width, depth), zero point subtracted."""
        if fm.chained:
            values = self.chains.pop(fm.region, None)
            if values is None or values.shape != (height, width, depth):
                raise ValueError(f"chain buffer {fm.region} holds no {(height, width, depth)} OFM to read")
            return values.astype(np.int64) - fm.zero_point
        buffer = self._bytes_of(fm.region)
        raw = buffer[self._checked(fm, height, width, depth, len(buffer))]
        return np.ascontiguousarray(raw).view(fm.dtype)[..., 0].astype(np.int64) - fm.zero_point

    def write(self, fm: FeatureMap, values: np.ndarray) -> None:
        if fm.chained:
            self.chains[fm.region] = values.copy()
            return
        buffer = self._bytes_of(fm.region)
        raw = np.ascontiguousarray(values.astype(fm.dtype))[..., None].view(np.int8)
        buffer[self._checked(fm, *values.shape, len(buffer))] = raw

    def _bytes_of(self, region: int | str) -> np.ndarray:
        """A region as a writable int8 view."""
        if region not in self.memory:
            raise ValueError(f"the stream uses region {region}, which the Vela output does not lay out")
        return np.frombuffer(self.memory[region], dtype=np.int8)

    @staticmethod
    def _checked(fm: FeatureMap, height: int, width: int, depth: int, size: int) -> np.ndarray:
        at = fm.addresses(height, width, depth)
        if at.min() < 0 or at.max() >= size:
            raise ValueError(f"feature map at {fm.bases[0]:#x} reaches outside region {fm.region} ({size} bytes)")
        return at

    def _block(self, region: str, base: str, length: str) -> bytes:
        start, size = self.number(base, "addr"), self.number(length, "length")
        data = self._bytes_of(self.number(region, "region"))
        if start + size > len(data):
            raise ValueError(f"{base} {start:#x} + {size} bytes leaves region {self.number(region, 'region')}")
        return data[start : start + size].tobytes()

    # Operations
    def _dma(self) -> None:
        src, dst = self.registers["NPU_SET_DMA0_SRC_REGION"].fields, self.registers["NPU_SET_DMA0_DST_REGION"].fields
        if src["region_mode"] == "DMA_REGION_MODE_INTERNAL":
            raise Unsupported("DMA from the LUT RAM")
        source = self._bytes_of(int(src["region"]))
        target = self._bytes_of(LUT if dst["region_mode"] == "DMA_REGION_MODE_INTERNAL" else int(dst["region"]))
        start, to, length = (self.number(f"DMA0_{n}", "addr") for n in ("SRC", "DST", "LEN"))
        # regor's GenerateDMA: LEN contiguous bytes, repeated SIZE0 times at STRIDE0, that SIZE1 times at STRIDE1.
        dims = {"DMA_STRIDE_MODE_D1": 0, "DMA_STRIDE_MODE_D2": 1, "DMA_STRIDE_MODE_D3": 2}[str(src["stride_mode"])]
        counts = [self.number(f"DMA0_SIZE{level}", "size") for level in range(dims)] + [1] * (2 - dims)
        # An indexed end steps STRIDE0 per index even in 1D mode: regor emits SRC_STRIDE0 (gather) or DST_STRIDE0
        # (scatter) "for 2D and 3D mode, or src/dest indexed operation", and picks 1D whenever SIZE0 = SIZE1 = 1.
        indexed = {"SRC": src["idx_mode"] == "DMA_IDX_MODE_ENABLED", "DST": dst["idx_mode"] == "DMA_IDX_MODE_ENABLED"}
        steps = [[self.number(f"DMA0_{end}_STRIDE{level}", "addr") if level < max(dims, indexed[end]) else 0
                  for end in ("SRC", "DST")] for level in range(2)]
        steps = [[step - (1 << 40) if step >> 39 else step for step in pair] for pair in steps]  # 40-bit signed
        rows = [(i1, i0, i0) for i1 in range(counts[1]) for i0 in range(counts[0])]  # (outer, source row, dest row)
        if src["idx_mode"] == "DMA_IDX_MODE_ENABLED":  # a gather: one index list entry per row, in order
            indices = self._dma_indices(counts[0] * counts[1])
            rows = [(i1, indices[i1 * counts[0] + i0], i0) for i1, _, i0 in rows]
        elif dst["idx_mode"] == "DMA_IDX_MODE_ENABLED":  # a scatter: the index list places the rows
            indices = self._dma_indices(counts[0] * counts[1])
            rows = [(i1, i0, indices[i1 * counts[0] + i0]) for i1, i0, _ in rows]
        rows = [(start + i1 * steps[1][0] + s * steps[0][0], to + i1 * steps[1][1] + d * steps[0][1]) for i1, s, d in rows]
        for s, d in rows:
            if min(s, d) < 0 or s + length > len(source) or d + length > len(target):
                raise ValueError(f"DMA of {length} bytes from {s:#x} to {d:#x} leaves its regions")
            target[d : d + length] = source[s : s + length]

    def _dma_indices(self, count: int) -> list[int]:
        """The rows of a gather or scatter: `count` int32 indices (inferred: the index tensors Vela stages are int32)."""
        if self.registers.get("NPU_SET_DMA0_IDX_SKIP1") and self.number("DMA0_IDX_SKIP1", "addr"):
            raise Unsupported("DMA gather with IDX_SKIP1")
        start = self.number("DMA0_IDX", "addr")
        data = self._bytes_of(self.number("DMA0_IDX_REGION", "region"))
        if start + 4 * count > len(data):
            raise ValueError(f"DMA gather indices at {start:#x} leave their region")
        indices = data[start : start + 4 * count].view("<i4").tolist()
        if min(indices) < 0 or max(indices) > self.number("DMA0_IDX_MAX", "idx_max"):
            raise Unsupported(f"DMA gather with indices {indices} beyond 0..IDX_MAX")
        return indices

    def _check_common(self, acc_inputs: tuple[str, ...] = ("ACC_INPUT_RESET",)) -> None:
        if self.field("IFM_UPSCALE", "mode") != "IFM_UPSCALE_MODE_NONE":
            raise Unsupported(f"{self.field('IFM_UPSCALE', 'mode')}")
        acc = self.registers["NPU_SET_ACC_FORMAT"].fields
        if acc["acc_input"] not in acc_inputs:
            raise Unsupported(f"{acc['acc_input']}")
        if acc["acc_output"] != "ACC_OUTPUT_ENABLE":
            raise Unsupported(f"{acc['acc_output']}")

    def _acc_bits(self) -> int:
        return {"ACC_FORMAT_I32": 32, "ACC_FORMAT_I48": 48}[str(self.field("ACC_FORMAT", "acc_format"))]

    def _stride(self) -> tuple[int, int]:
        f = self.registers["NPU_SET_KERNEL_STRIDE"].fields
        for key in ("dilation_x", "dilation_y"):
            if f[key] != "KERNEL_DILATION_NONE":
                raise Unsupported(f"{key} {f[key]}")
        return int(f["stride_x_msb"]) << 1 | int(f["stride_x_lsb"]), int(f["stride_y_msb"]) << 1 | int(f["stride_y_lsb"])

    def _windows(self) -> tuple[list[tuple[int, int, np.ndarray]], tuple[int, ...], np.ndarray]:
        """(ky, kx, IFM values under tap ky, kx for every OFM position), the pads, a mask of real IFM values."""
        height, width, _ = self.ofm_shape()
        stride_x, stride_y = (s + 1 for s in self._stride())
        kernel_h, kernel_w = self.number("KERNEL_HEIGHT_M1", "height_m1") + 1, self.number("KERNEL_WIDTH_M1", "width_m1") + 1
        pads = tuple(self.number(f"IFM_PAD_{s}", "pad") for s in ("TOP", "LEFT", "BOTTOM", "RIGHT"))
        top, left, bottom, right = pads
        # No IFM height or width register: the OFM, kernel, stride and pads imply them.
        ifm_h = (height - 1) * stride_y + kernel_h - top - bottom
        ifm_w = (width - 1) * stride_x + kernel_w - left - right
        ifm = self.read(self.feature_map("IFM"), ifm_h, ifm_w, self.number("IFM_DEPTH_M1", "depth_m1") + 1)
        padded = np.pad(ifm, ((top, bottom), (left, right), (0, 0)))  # pads hold the zero point: 0 once subtracted
        real = np.pad(np.ones(ifm.shape, dtype=bool), ((top, bottom), (left, right), (0, 0)))
        taps, masks = [], []
        for ky in range(kernel_h):
            for kx in range(kernel_w):
                rows = slice(ky, ky + stride_y * (height - 1) + 1, stride_y)
                cols = slice(kx, kx + stride_x * (width - 1) + 1, stride_x)
                taps.append((ky, kx, padded[rows, cols]))
                masks.append(real[rows, cols])
        return taps, pads, np.stack(masks)

    def _convolution(self, depthwise: bool) -> None:
        self._check_common(("ACC_INPUT_RESET", "ACC_INPUT_IFM2"))
        height, width, depth = self.ofm_shape()
        taps, _, _ = self._windows()
        ifm_depth = taps[0][2].shape[2]
        if depthwise and ifm_depth != depth:
            raise Unsupported(f"DEPTHWISE with IFM depth {ifm_depth} and OFM depth {depth}")
        kernel_h, kernel_w = taps[-1][0] + 1, taps[-1][1] + 1
        if self.feature_map("IFM").dtype.itemsize != 1:
            raise Unsupported(f"{'DEPTHWISE' if depthwise else 'CONV'} with a {self.feature_map('IFM').dtype} IFM")
        weight_format = self.registers["NPU_SET_WEIGHT_FORMAT"].fields
        if weight_format["weight_format"] != "WEIGHT_FORMAT_SWD":
            raise Unsupported(f"weights in {weight_format['weight_format']}")
        sparse = weight_format["weight_sparsity"] == "WEIGHT_SPARSITY_SPARSE_2_4"
        ublock = str(self.field("ACC_FORMAT", "microblock"))
        if ublock not in _UBLOCK_DEPTH[self.macs]:
            raise Unsupported(f"{ublock} on {self.macs} MACs")
        ublock_depth = _UBLOCK_DEPTH[self.macs][ublock]
        order = str(self.field("KERNEL_STRIDE", "weight_order"))
        traversal = "DEPTHWISE" if depthwise else order.removeprefix("WEIGHT_ORDER_")
        # regor's IFM block depth for 8-bit IFMs (ArchEthosU85::FindBlockConfig)
        if traversal == "PART_KERNEL_FIRST":
            ifm_block_depth = 16
        else:
            ifm_block_depth = 32 if ublock_depth == 16 and not sparse else 128 if sparse else 64
        stride_x, stride_y = (s + 1 for s in self._stride())
        weights = decode_weights(
            self._block("WEIGHT_REGION", "WEIGHT_BASE", "WEIGHT_LENGTH"),
            (depth, kernel_h, kernel_w, 1 if depthwise else ifm_depth), traversal, (stride_x, stride_y),
            self.number("OFM_BLK_DEPTH_M1", "depth_m1") + 1, ifm_block_depth, ublock_depth, sparse,
        )
        acc = np.zeros((height, width, depth), dtype=np.int64)
        for ky, kx, ifm in taps:
            acc += ifm * weights[:, ky, kx, 0] if depthwise else ifm @ weights[:, ky, kx, :].T
        if self.field("OFM_PRECISION", "scale_mode") != "OFM_SCALE_MODE_PER_CHANNEL":
            raise Unsupported(f"{'DEPTHWISE' if depthwise else 'CONV'} with a global OFM scale")
        if self.field("ACC_FORMAT", "acc_input") == "ACC_INPUT_IFM2":  # a partial sum, e.g. of a split 3D kernel
            acc += self.read(self.feature_map("IFM2"), height, width, depth)
        records = self._block("SCALE_REGION", "SCALE_BASE", "SCALE_LENGTH")
        bias, scale, shift = decode_scales(records, depth, self._acc_bits())
        self._output(acc + bias, scale, shift)

    def _matmul(self) -> None:
        """CONV with weights from IFM2: regor's MatMul, OFM[h, m, n] = sum over k of IFM[h, m, k] * IFM2[h, n, k]."""
        self._check_common()
        height, width, depth = self.ofm_shape()
        kernel = (self.number("KERNEL_HEIGHT_M1", "height_m1"), self.number("KERNEL_WIDTH_M1", "width_m1"))
        pads = [self.number(f"IFM_PAD_{side}", "pad") for side in ("TOP", "LEFT", "BOTTOM", "RIGHT")]
        if kernel != (0, 0) or any(pads) or self._stride() != (0, 0):
            raise Unsupported(f"CONV with weights from IFM2 and a kernel {kernel}, pads {pads} or a stride")
        ifm_depth = self.number("IFM_DEPTH_M1", "depth_m1") + 1
        a = self.read(self.feature_map("IFM"), height, width, ifm_depth)
        b = self.read(self.feature_map("IFM2"), height, depth, ifm_depth)
        acc = np.einsum("hmk,hnk->hmn", a, b)
        if self.field("OFM_PRECISION", "scale_mode") == "OFM_SCALE_MODE_PER_CHANNEL":
            records = self._block("SCALE_REGION", "SCALE_BASE", "SCALE_LENGTH")
            bias, scale, shift = decode_scales(records, depth, self._acc_bits())
            self._output(acc + bias, scale, shift)
        else:
            self._output(acc, *self._global_scale("CONV with weights from IFM2"))

    def _pool(self, mode: str) -> None:
        if mode == "POOLING_MODE_NONE":  # the accumulator is loaded from IFM2 and written out (a constant's copy)
            if self.field("ACC_FORMAT", "acc_input") != "ACC_INPUT_IFM2":
                raise Unsupported(f"{mode} with {self.field('ACC_FORMAT', 'acc_input')}")
            acc = self.read(self.feature_map("IFM2"), *self.ofm_shape())
            if self.field("OFM_PRECISION", "scale_mode") == "OFM_SCALE_MODE_PER_CHANNEL":  # the last of a split kernel
                records = self._block("SCALE_REGION", "SCALE_BASE", "SCALE_LENGTH")
                bias, scale, shift = decode_scales(records, acc.shape[2], self._acc_bits())
                self._output(acc + bias, scale, shift)
            else:
                self._output(acc, *self._global_scale(mode))
            return
        self._check_common()
        taps, _, real = self._windows()
        values = np.stack([ifm for _, _, ifm in taps])
        if mode == "POOLING_MODE_SUM":
            acc = values.sum(axis=0)
        elif mode == "POOLING_MODE_MAX":
            acc = np.where(real, values, np.iinfo(np.int64).min).max(axis=0)  # padding never wins
        elif mode == "POOLING_MODE_MIN":
            acc = np.where(real, values, np.iinfo(np.int64).max).min(axis=0)
        elif mode == "POOLING_MODE_AVERAGE":  # as TOSA's AVG_POOL2D: padding not counted, a reciprocal multiply
            acc = _divide_by_count(values.sum(axis=0), real.sum(axis=0))
        elif mode == "POOLING_MODE_REDUCE_SUM":  # along the depth, into one channel
            acc = values.sum(axis=0).sum(axis=2, keepdims=True)
        else:
            raise Unsupported(mode)
        self._output(acc, *self._global_scale(mode))

    def _resize(self, mode: str) -> None:
        """TOSA's RESIZE (scale n/d, offset), the accumulator 2**16 times TOSA's: regor adds 16 to the OFM shift."""
        self._check_common()
        if mode not in ("RESIZE_MODE_NEAREST", "RESIZE_MODE_BILINEAR"):
            raise Unsupported(mode)
        height, width, depth = self.ofm_shape()
        # regor: the kernel registers hold the IFM height and the IFM width read.
        ifm_h, ifm_w = self.number("KERNEL_HEIGHT_M1", "height_m1") + 1, self.number("KERNEL_WIDTH_M1", "width_m1") + 1
        ifm = self.read(self.feature_map("IFM"), ifm_h, ifm_w, depth)
        axes = []
        for axis, size, out in (("Y", ifm_h, height), ("X", ifm_w, width)):
            n = self.number(f"RESIZE_{axis}_SCALE_N_M1", f"resize_{axis.lower()}_scale_n_m1") + 1
            step = self.registers[f"NPU_SET_RESIZE_{axis}_STEP"].fields
            d = int(step["one_step_int"]) * n + int(step["one_step_mod"])
            position = np.arange(out) * d + self.number(f"RESIZE_{axis}_OFFSET", f"resize_{axis.lower()}_offset")
            index, fraction = position // n, position % n
            if mode == "RESIZE_MODE_NEAREST":
                nearest = np.clip(index + (2 * fraction >= n), 0, size - 1)
                axes.append([(nearest, np.ones(out, dtype=np.int64))])
            else:
                axes.append([(np.clip(index, 0, size - 1), n - fraction), (np.clip(index + 1, 0, size - 1), fraction)])
        acc = np.zeros((height, width, depth), dtype=np.int64)
        for rows, row_weight in axes[0]:
            for cols, col_weight in axes[1]:
                acc += ifm[rows][:, cols] * (row_weight[:, None] * col_weight[None, :])[:, :, None]
        self._output(acc << 16, *self._global_scale(mode))

    def _elementwise(self, mode: str) -> None:
        self._check_common()
        if mode not in _ELEMENTWISE:
            raise Unsupported(mode)
        a = self._scaled(self._operand("IFM"), "IFM_SCALE")
        if mode in _UNARY:
            acc = _ELEMENTWISE[mode](a, None)
        else:
            acc = _ELEMENTWISE[mode](a, self._scaled(self._operand("IFM2"), "IFM2_SCALE"))
        self._output(np.broadcast_to(acc, self.ofm_shape()), *self._global_scale(mode))

    def _operand(self, prefix: str) -> np.ndarray:
        """An elementwise operand, zero point subtracted, with 1 along the axes it is broadcast on."""
        broadcast = str(self.field(f"{prefix}_BROADCAST", "broadcast_mode")).removeprefix("BROADCAST_MODE_")
        if broadcast == "SCALAR":  # OP_SCALAR in place of a feature map
            scalar = self.number("OP_SCALAR", "scalar") - self.signed16(f"{prefix}_ZERO_POINT", "zero_point")
            return np.full((1, 1, 1), scalar, dtype=np.int64)
        height, width, depth = self.ofm_shape()
        shape = (1 if "H" in broadcast else height, 1 if "W" in broadcast else width, 1 if "C" in broadcast else depth)
        return self.read(self.feature_map(prefix), *shape)

    def _scaled(self, values: np.ndarray, register: str) -> np.ndarray:
        f = self.registers[f"NPU_SET_{register}"].fields
        return _rescale(values, int(f["scale"]), int(f["shift"]), str(f["round_mode"]), int(f["dbl_rnd"]))

    def _global_scale(self, what: str) -> tuple[int, int]:
        if self.field("OFM_PRECISION", "scale_mode") != "OFM_SCALE_MODE_GLOBAL":
            raise Unsupported(f"{what} with per-channel OFM scales")
        return self.number("OFM_SCALE", "scale"), self.number("OFM_SCALE", "shift")

    def _output(self, acc: np.ndarray, scale: Any, shift: Any) -> None:
        bits = self._acc_bits()
        if acc.min() < -(1 << (bits - 1)) or acc.max() >= 1 << (bits - 1):
            raise Unsupported(f"a {bits}-bit accumulator overflow (saturation is not modelled)")
        ofm = self.feature_map("OFM")
        activation = self.registers["NPU_SET_ACTIVATION"].fields
        function = str(activation["activation_function"])
        lut = None
        if function in _LUT_8BIT and ofm.dtype == _LUT_8BIT[function]:
            start = int(activation["table"]) * LUT_SLOT_BYTES
            lut = self._bytes_of(LUT)[start : start + LUT_SLOT_BYTES].view(ofm.dtype).copy()
        elif function != "ACTIVATION_FUNCTION_LUT_NONE":
            raise Unsupported(f"{function} with a {ofm.dtype} OFM")
        low, high = np.iinfo(ofm.dtype).min, np.iinfo(ofm.dtype).max
        if activation["activation_clip_range"] == "ACTIVATION_CLIP_RANGE_B16":
            signed = np.iinfo(ofm.dtype).min < 0
            boundary = self.signed16 if signed else self.number
            low = max(low, boundary("ACTIVATION_MIN", "clip_boundary"))
            high = min(high, boundary("ACTIVATION_MAX", "clip_boundary"))
        ofm_scale = self.registers["NPU_SET_OFM_SCALE"].fields
        scaled = _rescale(acc, scale, shift, str(ofm_scale["round_mode"]), int(ofm_scale["dbl_rnd"])) + ofm.zero_point
        values = np.clip(scaled, low, high).astype(np.int64)
        if lut is not None:
            values = lut[values - np.iinfo(ofm.dtype).min].astype(np.int64)  # index: the value's offset from the minimum
        reverse = str(self.field("OFM_PRECISION", "activation_reverse")).removeprefix("ACTIVATION_REVERSE_")
        if reverse != "NONE":  # regor never combines it with a transpose
            values = np.flip(values, "HWC".index(reverse))
        transpose = str(self.field("OFM_PRECISION", "activation_transpose")).removeprefix("ACTIVATION_TRANSPOSE_")
        self.write(ofm, np.transpose(values, ["HWC".index(axis) for axis in transpose]))


def _divide_by_count(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    """total / count rounded as TOSA's reciprocal_scale and apply_scale_32 (single rounding)."""

    def divide(value: int, n: int) -> int:
        k = (n - 1).bit_length()
        multiplier, shift = (((1 << 30) + 1) << k) // n, 30 + k
        return (value * multiplier + (1 << (shift - 1))) >> shift

    return np.asarray(np.frompyfunc(divide, 2, 1)(total.astype(object), count.astype(object)), dtype=object)


def _rescale(values: np.ndarray, scale: Any, shift: Any, mode: str, dbl_rnd: int) -> np.ndarray:
    """values * scale / 2**shift rounded as `mode` (a ROUND_MODE_IFM_/OFM_ name); scale, shift scalars or per channel."""
    if dbl_rnd:
        raise Unsupported(f"{mode} with dbl_rnd {dbl_rnd}")
    name = mode.removeprefix("ROUND_MODE_OFM_").removeprefix("ROUND_MODE_IFM_")
    shifts = np.asarray(shift, dtype=object)
    product = values.astype(object) * np.asarray(scale, dtype=object)
    if not np.any(product % (np.ones_like(shifts) << shifts)):  # no bits shifted out: every mode is exact
        return np.asarray(product >> shifts, dtype=object)
    if name not in _ROUNDERS:
        raise Unsupported(f"round mode {mode}")
    rounder = _ROUNDERS[name]
    return np.asarray(np.frompyfunc(lambda p, s: rounder(p, s) if s else p, 2, 1)(product, shifts), dtype=object)
