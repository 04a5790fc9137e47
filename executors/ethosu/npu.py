"""A functional model of the Ethos-U55-128 that runs one Vela 5.1.0 command stream on numpy.

The register commands (executors/ethosu/stream.py) set registers; the operations read them and
move feature maps between memory regions. Arithmetic and layouts follow
/work/shared/design/VELA_STREAM.md. Anything not implemented raises Unsupported, naming it:
the model never returns a guess. Timing (DMA waits, block dependencies) is not modelled.
Covers: CONV, DEPTHWISE (stride, padding), POOL MAX (padding), AVERAGE without padding, REDUCE_SUM
over channels; ELEMENTWISE ADD, SUB (16-bit operand scales or one 32-bit operand
scale), MUL (products wider than 32 bits, as Vela's RESCALE-as-MUL needs), MIN, MAX, ABS, with scalar or
broadcast IFM2 and either operand order; 8-bit LUT activations, clip ranges, 1D DMA; 8/16/32-bit feature
maps, NHWC and NHCWB16; NATURAL and TFL rounding, and any round mode with shift 0; IFM upscaling by 2
with NEAREST (Vela's resize) for kernel operations.
Not yet: AVERAGE with padding, LRELU, CLZ, SHL, SHR, 16-bit LUTs, IFM upscaling with zeros inserted
(transpose convolution with stride 2), dilation, 2D/3D DMA,
TRUNCATE rounding, accumulator saturation, U65/U85.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from executors.ethosu.arith import Unsupported, output_stage, rescale
from executors.ethosu.stream import Command, decode
from executors.ethosu.weights import decode_scales, decode_weights

__all__ = ["Unsupported", "run_stream"]

SHRAM = "shram"  # the NPU's internal memory, reached by DMA with the internal bit set
LUT_BYTES = 256  # one 8-bit table; the eight slots fill the last 2 KiB of SHRAM
_NO_EFFECT = ("NPU_OP_DMA_WAIT", "NPU_OP_KERNEL_WAIT", "NPU_OP_PMU_MASK", "NPU_OP_IRQ")  # timing and events
# ADD/SUB with one operand scaled by 32 bits: the other is shifted up by Vela's input shift - 1 (scaling.py:
# advanced_elementwise_add_sub_scale gives the unscaled operand 2**input_shift / 2; 20 for 8-bit, 15 for 16-bit).
_UNSCALED_SHIFT = {"S8": 19, "U8": 19, "S16": 14, "U16": 14}
_UNARY = ("ABS", "LRELU", "CLZ")
_GLOBAL_SCALE = ("ADD", "SUB", "MUL", "ABS", "LRELU")  # Vela's useGlobalScale; the rest are not scaled
_PAD_NEVER_MAX = -(1 << 40)
_IO_TYPES = {1: np.int8, 2: np.int16, 4: np.int32}
_CLIP_TYPES = {"FORCE_INT8": np.int8, "FORCE_UINT8": np.uint8, "FORCE_INT16": np.int16}


def run_stream(vela: str | Path | Mapping[str, Any], inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs of one delegate's Vela output (out_vela.npz, or its arrays) on `inputs`.

    Inputs are integer arrays of the element size Vela laid out; outputs are signed integers of theirs."""
    if isinstance(vela, (str, Path)):
        with np.load(vela, allow_pickle=True) as data:
            vela = {key: data[key] for key in data.files}
    cmd_data = np.asarray(vela["cmd_data"]).tobytes()
    npu = Npu(_shram_bytes(cmd_data), _memory(vela, inputs))
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


def _shram_bytes(cmd_data: bytes) -> int:
    tag, config = struct.unpack_from("<2I", cmd_data, 4)
    if tag & 0xFF != 0x01:
        raise ValueError("cmd_data has no driver config word after 'COP1'")
    macs, shram_kib, product = 1 << (config & 0xF), (config >> 8) & 0xFF, config >> 28
    if product != 0 or macs != 128:
        raise Unsupported(f"{'Ethos-U65' if product == 1 else f'product {product}'} with {macs} MACs per cycle")
    return shram_kib * 1024


def _shape(shape6: np.ndarray) -> tuple[int, ...]:
    """Vela's 6-D I/O shape as the delegate's 4-D tensor."""
    shape = [int(n) for n in shape6]
    while len(shape) > 4 and shape[0] == 1:
        shape.pop(0)
    return tuple(shape)


def _memory(vela: Mapping[str, Any], inputs: list[np.ndarray]) -> dict[int | str, bytearray]:
    weights = bytearray(np.asarray(vela["weight_data"]).tobytes())
    memory: dict[int | str, bytearray] = {int(vela["weight_region"]): weights}
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
        size = int(vela["input_elem_size"][i])
        if array.dtype.kind not in "iub" or array.dtype.itemsize != size or array.size != int(
                np.prod(vela["input_shape"][i])):
            raise ValueError(f"input {i} is {array.dtype}{list(array.shape)}, the stream takes {size}-byte integers "
                             f"{vela['input_shape'][i].tolist()}")
        offset = int(vela["input_offset"][i])
        memory[int(vela["input_region"][i])][offset : offset + array.nbytes] = np.ascontiguousarray(array).tobytes()
    return memory


def _io_bytes(vela: Mapping[str, Any], prefix: str, i: int) -> int:
    size = int(vela[f"{prefix}_elem_size"][i])
    if size not in _IO_TYPES:
        raise Unsupported(f"{prefix} {i} of {size}-byte elements")
    return int(np.prod(vela[f"{prefix}_shape"][i])) * size


def _read_io(memory: dict[int | str, bytearray], vela: Mapping[str, Any], prefix: str, i: int) -> np.ndarray:
    offset = int(vela[f"{prefix}_offset"][i])
    data = memory[int(vela[f"{prefix}_region"][i])][offset : offset + _io_bytes(vela, prefix, i)]
    return np.frombuffer(bytes(data), dtype=_IO_TYPES[int(vela[f"{prefix}_elem_size"][i])]).copy()


# Precision -> numpy type of its elements.
_DTYPES = {"U8": np.uint8, "S8": np.int8, "U16": np.uint16, "S16": np.int16, "S32": np.int32}


@dataclass
class FeatureMap:
    region: int
    dtype: Any  # numpy type of one element
    bases: tuple[int, int, int, int]  # tiles: top-left, top-right, bottom-left, bottom-right
    height0: int
    height1: int
    width0: int
    stride_y: int
    stride_x: int
    stride_c: int
    layout: str
    zero_point: int

    def addresses(self, height: int, width: int, depth: int) -> np.ndarray:
        """Byte address of every (y, x, c); tiles as in Vela's get_address."""
        y, x, c = np.arange(height)[:, None, None], np.arange(width)[None, :, None], np.arange(depth)[None, None, :]
        right = x >= self.width0
        below = np.where(right, y >= self.height1, y >= self.height0)
        y = y - np.where(below, np.where(right, self.height1, self.height0), 0)
        x = x - np.where(right, self.width0, 0)
        base = np.array(self.bases)[right * 1 + below * 2]
        size = np.dtype(self.dtype).itemsize
        channel = c * size if self.layout == "NHWC" else (c // 16) * self.stride_c + c % 16 * size
        return base + y * self.stride_y + x * self.stride_x + channel


class Npu:
    """Register file and memories of one NPU; `execute` runs one command."""

    def __init__(self, shram_bytes: int, memory: dict[int | str, bytearray]):
        self.memory = memory
        self.memory[SHRAM] = bytearray(shram_bytes)
        self.registers: dict[str, Command] = {}

    def execute(self, command: Command) -> None:
        if command.name.startswith("NPU_SET_"):
            self.registers[command.name] = command
        elif command.name in _NO_EFFECT:
            return
        elif command.name == "NPU_OP_DMA_START":
            self._dma()
        elif command.name in ("NPU_OP_CONV", "NPU_OP_DEPTHWISE"):
            self._convolution(depthwise=command.name == "NPU_OP_DEPTHWISE")
        elif command.name == "NPU_OP_POOL":
            self._pool(str(command.fields["mode"]))
        elif command.name == "NPU_OP_ELEMENTWISE":
            self._elementwise(str(command.fields["mode"]))
        else:
            raise Unsupported(f"operation {command.name}")

    # Registers, by their name without NPU_SET_
    def field(self, name: str, key: str = "param") -> int | str:
        if f"NPU_SET_{name}" not in self.registers:
            raise ValueError(f"the stream reads NPU_SET_{name} before setting it")
        return self.registers[f"NPU_SET_{name}"].fields[key]

    def number(self, name: str, key: str = "param") -> int:
        return int(self.field(name, key))

    def signed16(self, name: str) -> int:
        value = self.number(name)
        return value - (1 << 16) if value & 0x8000 else value

    def signed32(self, name: str) -> int:
        value = self.number(name, "data")
        return value - (1 << 32) if value & 0x80000000 else value

    def feature_map(self, prefix: str) -> FeatureMap:
        precision = str(self.field(f"{prefix}_PRECISION", "precision"))
        return FeatureMap(
            region=self.number(f"{prefix}_REGION"),
            dtype=_DTYPES[precision],
            bases=tuple(self.number(f"{prefix}_BASE{i}", "data") for i in range(4)),
            height0=self.number(f"{prefix}_HEIGHT0_M1") + 1,
            height1=self.number(f"{prefix}_HEIGHT1_M1") + 1,
            width0=self.number(f"{prefix}_WIDTH0_M1") + 1,
            stride_y=self.signed32(f"{prefix}_STRIDE_Y"),  # negative to write an axis reversed
            stride_x=self.signed32(f"{prefix}_STRIDE_X"),
            stride_c=self.signed32(f"{prefix}_STRIDE_C"),
            layout=str(self.field(f"{prefix}_PRECISION", "format")),
            zero_point=self.signed16(f"{prefix}_ZERO_POINT") if precision[0] == "S" else self.number(
                f"{prefix}_ZERO_POINT"),
        )

    def ofm_shape(self) -> tuple[int, int, int]:
        return tuple(self.number(f"OFM_{d}_M1") + 1 for d in ("HEIGHT", "WIDTH", "DEPTH"))

    # Memory
    def read(self, fm: FeatureMap, height: int, width: int, depth: int) -> np.ndarray:
        """The feature map as int64 (height, width, depth), zero point subtracted."""
        buffer = self._bytes_of(fm.region, np.uint8)
        raw = buffer[self._checked(fm, height, width, depth, len(buffer))]  # (h, w, c, element bytes)
        return raw.copy().view(fm.dtype)[..., 0].astype(np.int64) - fm.zero_point

    def write(self, fm: FeatureMap, values: np.ndarray) -> None:
        buffer = self._bytes_of(fm.region, np.uint8)
        at = self._checked(fm, *values.shape, len(buffer))
        buffer[at] = np.ascontiguousarray(values.astype(fm.dtype))[..., None].view(np.uint8)

    def _bytes_of(self, region: int | str, dtype: Any = np.int8) -> np.ndarray:
        """A region as a writable view of bytes."""
        if region not in self.memory:
            raise ValueError(f"the stream uses region {region}, which the Vela output does not lay out")
        return np.frombuffer(self.memory[region], dtype=dtype)

    @staticmethod
    def _checked(fm: FeatureMap, height: int, width: int, depth: int, size: int) -> np.ndarray:
        """The address of every byte of every element: (height, width, depth, element bytes)."""
        at = fm.addresses(height, width, depth)[..., None] + np.arange(np.dtype(fm.dtype).itemsize)
        if at.min() < 0 or at.max() >= size:
            raise ValueError(f"feature map at {fm.bases[0]:#x} reaches outside region {fm.region} ({size} bytes)")
        return at

    def _block(self, region: str, base: str, length: str) -> bytes:
        start, size = self.number(base, "data"), self.number(length, "data")
        data = self._bytes_of(self.number(region))
        if start + size > len(data):
            raise ValueError(f"{base} {start:#x} + {size} bytes leaves region {self.number(region)}")
        return data[start : start + size].tobytes()

    # Operations
    def _dma(self) -> None:
        src, dst = self.registers["NPU_SET_DMA0_SRC_REGION"], self.registers["NPU_SET_DMA0_DST_REGION"]
        for end in (src.fields, dst.fields):
            if end["stride_mode"] != "STRIDE_MODE_1D":
                raise Unsupported(f"DMA {end['stride_mode']}")
        if src.fields["internal"]:
            raise Unsupported("DMA from SHRAM")
        source = self._bytes_of(int(src.fields["region"]))
        target = self._bytes_of(SHRAM if dst.fields["internal"] else int(dst.fields["region"]))
        start, to, length = (self.number(f"DMA0_{n}", "data") for n in ("SRC", "DST", "LEN"))
        if start + length > len(source) or to + length > len(target):
            raise ValueError(f"DMA of {length} bytes from {start:#x} to {to:#x} leaves its regions")
        target[to : to + length] = source[start : start + length]

    def _check_common(self) -> None:
        if self.field("ACC_FORMAT") != "INT_32BIT":
            raise Unsupported(f"ACC_FORMAT {self.field('ACC_FORMAT')}")
        if "NPU_SET_PARALLEL_MODE" in self.registers and self.number("PARALLEL_MODE"):
            raise Unsupported(f"PARALLEL_MODE {self.number('PARALLEL_MODE')}")

    def _windows(self, pad_value: int = 0) -> tuple[list[tuple[int, int, np.ndarray]], tuple[int, ...], bool]:
        """(ky, kx, IFM values under kernel tap ky, kx for every OFM position), the pads, part-kernel-first.

        Padding holds `pad_value` after the zero point is subtracted: 0 (the zero point) by default."""
        height, width, _ = self.ofm_shape()
        bits = self.number("KERNEL_STRIDE")
        if bits & 0b111000 or bits >> 10:
            raise Unsupported(f"KERNEL_STRIDE {bits:#x} (dilation or decomposition)")
        stride_x = ((bits >> 6 & 1) << 1 | bits & 1) + 1
        stride_y = ((bits >> 9 & 1) << 1 | bits >> 1 & 1) + 1
        kernel_h, kernel_w = self.number("KERNEL_HEIGHT_M1") + 1, self.number("KERNEL_WIDTH_M1") + 1
        top, left, bottom, right = pads = tuple(self.number(f"IFM_PAD_{s}") for s in ("TOP", "LEFT", "BOTTOM", "RIGHT"))
        # No IFM height or width register: the OFM, kernel, stride and pads imply them.
        ifm_h = (height - 1) * stride_y + kernel_h - top - bottom
        ifm_w = (width - 1) * stride_x + kernel_w - left - right
        ifm = self._upscaled_ifm(ifm_h, ifm_w)
        padded = np.pad(ifm, ((top, bottom), (left, right), (0, 0)), constant_values=pad_value)
        taps = [
            (ky, kx, padded[ky : ky + stride_y * (height - 1) + 1 : stride_y, kx : kx + stride_x * (width - 1) + 1 :
                            stride_x])
            for ky in range(kernel_h) for kx in range(kernel_w)
        ]
        return taps, pads, bool(bits & 0b100)

    def _upscaled_ifm(self, height: int, width: int) -> np.ndarray:
        """The IFM as the kernel sees it: as stored, or upscaled 2x by repeating (Vela's resize)."""
        upscale, depth = self.field("IFM_UPSCALE", "mode"), self.number("IFM_DEPTH_M1") + 1
        if upscale == "NONE":
            return self.read(self.feature_map("IFM"), height, width, depth)
        if upscale != "NEAREST":  # "TRANSPOSE" inserts zeros: no stream seen yet to test where they go
            raise Unsupported(f"IFM_UPSCALE {upscale}")
        ifm = self.read(self.feature_map("IFM"), (height + 1) // 2, (width + 1) // 2, depth)
        return ifm.repeat(2, axis=0).repeat(2, axis=1)[:height, :width]

    def _convolution(self, depthwise: bool) -> None:
        self._check_common()
        height, width, depth = self.ofm_shape()
        taps, _, part_kernel_first = self._windows()
        ifm_depth = taps[0][2].shape[2]
        if depthwise and ifm_depth != depth:
            raise Unsupported(f"DEPTHWISE with IFM depth {ifm_depth} and OFM depth {depth}")
        kernel_h, kernel_w = taps[-1][0] + 1, taps[-1][1] + 1
        weights = decode_weights(
            self._block("WEIGHT_REGION", "WEIGHT_BASE", "WEIGHT_LENGTH"),
            (depth, kernel_h, kernel_w, 1 if depthwise else ifm_depth),
            self.number("OFM_BLK_DEPTH_M1") + 1, depthwise, part_kernel_first,
        )
        acc = np.zeros((height, width, depth), dtype=np.int64)
        for ky, kx, ifm in taps:
            acc += ifm * weights[:, ky, kx, 0] if depthwise else ifm @ weights[:, ky, kx, :].T
        if self.field("OFM_PRECISION", "scaling"):
            raise Unsupported(f"{'DEPTHWISE' if depthwise else 'CONV'} with a global OFM scale")
        bias, scale, shift = decode_scales(self._block("SCALE_REGION", "SCALE_BASE", "SCALE_LENGTH"), depth)
        self._output(_fits_32(acc + bias, "CONV"), scale, shift)

    def _pool(self, mode: str) -> None:
        self._check_common()
        taps, pads, _ = self._windows(pad_value=_PAD_NEVER_MAX if mode == "MAX" else 0)  # pads never win a max
        if mode == "REDUCE_SUM":  # sums the channels (Vela's MATMUL is MUL then REDUCE_SUM)
            if len(taps) != 1 or any(pads) or self.ofm_shape()[2] != 1:
                raise Unsupported(f"POOL REDUCE_SUM with a {taps[-1][0] + 1}x{taps[-1][1] + 1} kernel, pads {pads} "
                                  f"or OFM depth {self.ofm_shape()[2]}")
            acc = _fits_32(taps[0][2].sum(axis=2, keepdims=True), "POOL REDUCE_SUM")
        else:
            if taps[0][2].shape[2] != self.ofm_shape()[2]:
                raise Unsupported(f"POOL {mode} from IFM depth {taps[0][2].shape[2]} to {self.ofm_shape()[2]}")
            if mode == "MAX":
                acc = np.max([ifm for _, _, ifm in taps], axis=0)
            elif mode == "AVERAGE" and not any(pads):
                acc = _fits_32(np.sum([ifm for _, _, ifm in taps], axis=0), "POOL AVERAGE")  # the OFM scale divides
            else:
                raise Unsupported(f"POOL {mode}{' with padding' if any(pads) else ''}")
        if not self.field("OFM_PRECISION", "scaling"):  # scale records: no smoke stream has one to test against
            raise Unsupported(f"POOL {mode} with per-channel OFM scales")
        self._output(acc, *self._global_scale())

    def _elementwise(self, mode: str) -> None:
        self._check_common()
        if self.field("IFM_UPSCALE", "mode") != "NONE":
            raise Unsupported(f"ELEMENTWISE with IFM_UPSCALE {self.field('IFM_UPSCALE', 'mode')}")
        shape = self.ofm_shape()
        if self.number("IFM_DEPTH_M1") + 1 != shape[2]:
            raise Unsupported("ELEMENTWISE with an IFM depth other than the OFM's")
        a = self.read(self.feature_map("IFM"), *shape)
        if mode in _UNARY:
            acc = self._unary(mode, a)
        else:
            b = self._ifm2(shape)
            if self.field("IFM2_BROADCAST", "operand_order"):  # ORDER_A: IFM2 is operand A
                a, b = b, a
            acc = self._binary(mode, a, b)
        if mode in _GLOBAL_SCALE:
            if not self.field("OFM_PRECISION", "scaling"):
                raise Unsupported(f"ELEMENTWISE {mode} with per-channel OFM scales")
            self._output(acc, *self._global_scale())
        else:
            # Vela gives these no scale and sets OFM_SCALE to 1, shift 0: both readings of the register agree.
            if self._global_scale() != (1, 0):
                raise Unsupported(f"ELEMENTWISE {mode} with OFM_SCALE {self._global_scale()}")
            self._output(acc, 1, 0)

    def _ifm2(self, shape: tuple[int, int, int]) -> np.ndarray:
        """Operand IFM2 over the OFM shape, zero point subtracted: a scalar, broadcast or a full map."""
        broadcast = self.registers["NPU_SET_IFM2_BROADCAST"].fields
        if broadcast["broadcast_scalar"]:
            signed = str(self.field("IFM2_PRECISION", "precision")).startswith("S")
            value = self.signed16("IFM2_SCALAR") if signed else self.number("IFM2_SCALAR")
            zero_point = self.signed16("IFM2_ZERO_POINT") if signed else self.number("IFM2_ZERO_POINT")
            return np.full(shape, value - zero_point, dtype=np.int64)
        fm = self.feature_map("IFM2")
        read = tuple(1 if broadcast[f"broadcast_{axis}"] else n for axis, n in zip(("height", "width", "depth"), shape))
        return np.broadcast_to(self.read(fm, *read), shape)

    def _unary(self, mode: str, a: np.ndarray) -> np.ndarray:
        if mode == "ABS":
            return np.abs(a)
        raise Unsupported(f"ELEMENTWISE {mode}")

    def _binary(self, mode: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if mode in ("MIN", "MAX"):
            return np.minimum(a, b) if mode == "MIN" else np.maximum(a, b)
        if mode == "MUL":
            return a.astype(object) * b  # 32-bit operands: Vela's RESCALE as MUL relies on a product wider than 32 bits
        if mode not in ("ADD", "SUB"):
            raise Unsupported(f"ELEMENTWISE {mode}")
        a, b = self._operand_scales(mode, a, b)
        return _fits_32(a + b if mode == "ADD" else a - b, f"ELEMENTWISE {mode}")

    def _operand_scales(self, mode: str, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """ADD and SUB scale their operands first: both by 16-bit scales, or one by a 32-bit scale."""
        scale_mode = self.field("IFM_PRECISION", "scale_mode")
        round_mode = str(self.field("IFM_PRECISION", "round_mode"))
        opa_scale, opa_shift = self.number("OPA_SCALE", "data"), self.number("OPA_SCALE", "shift")
        if scale_mode == "SCALE_16BIT":
            opb_scale = self.number("OPB_SCALE", "data")
            if opa_shift or opa_scale >> 16 or opb_scale >> 16:
                raise Unsupported(f"ELEMENTWISE {mode} 16-bit operand scales {opa_scale}>>{opa_shift}, {opb_scale}")
            if self.field("IFM2_BROADCAST", "operand_order") and opa_scale != opb_scale:
                raise Unsupported(f"ELEMENTWISE {mode} with reversed operands and unequal 16-bit scales")
            return a * opa_scale, b * opb_scale
        unscaled_shift = _UNSCALED_SHIFT.get(str(self.field("IFM_PRECISION", "precision")))
        if unscaled_shift is None:
            raise Unsupported(f"ELEMENTWISE {mode} {scale_mode} on {self.field('IFM_PRECISION', 'precision')}")
        if scale_mode == "SCALE_OPA_32BIT":
            return rescale(a, opa_scale, opa_shift, round_mode), b << unscaled_shift
        return a << unscaled_shift, rescale(b, opa_scale, opa_shift, round_mode)

    def _global_scale(self) -> tuple[int, int]:
        return self.number("OFM_SCALE", "data"), self.number("OFM_SCALE", "shift")

    def _output(self, acc: np.ndarray, scale: Any, shift: Any) -> None:
        function = str(self.field("ACTIVATION", "type"))
        lut = None
        if function.startswith("LUT_"):
            start = len(self.memory[SHRAM]) - 8 * LUT_BYTES + int(function.removeprefix("LUT_")) * LUT_BYTES
            lut = self._bytes_of(SHRAM)[start : start + LUT_BYTES].copy()
        elif function != "NONE":
            raise Unsupported(f"activation {function}")
        ofm = self.feature_map("OFM")
        clip = str(self.field("ACTIVATION", "act_clip_range"))
        clip_type = np.dtype(ofm.dtype) if clip == "OFM_PRECISION" else np.dtype(_CLIP_TYPES[clip])
        if lut is not None and clip_type != np.int8:
            raise Unsupported(f"an 8-bit LUT with a {clip_type} clip range")
        low, high = self.signed16("ACTIVATION_MIN"), self.signed16("ACTIVATION_MAX")
        if clip_type.kind == "u":
            low, high = self.number("ACTIVATION_MIN"), self.number("ACTIVATION_MAX")
        if clip_type.itemsize == 4:
            if (low, high) != (-(1 << 15), (1 << 15) - 1):
                raise Unsupported(f"a 32-bit OFM with activation range {low}..{high}")
            low, high = -(1 << 31), (1 << 31) - 1  # Vela writes the 16-bit extremes: only the type clamps
        info = np.iinfo(clip_type)
        rounding = str(self.field("OFM_PRECISION", "rounding"))
        values = output_stage(acc, scale, shift, rounding, ofm.zero_point, (max(low, info.min), min(high, info.max)))
        if lut is not None:
            values = lut[values + 128].astype(np.int64)
        self.write(ofm, values)


def _fits_32(acc: np.ndarray, what: str) -> np.ndarray:
    if np.min(acc) < -(1 << 31) or np.max(acc) >= 1 << 31:
        raise Unsupported(f"{what}: a 32-bit accumulator overflow (saturation is not modelled)")
    return acc
