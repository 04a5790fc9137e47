"""Read an Ethos-U delegate's processed bytes: what ExecuTorch ships to the device.

The format is written by executorch/backends/arm/arm_vela.py (`vela_compile`, `vela_bin_pack_io`)
and read by the runtime's VelaBinStream.cpp: blocks of a 16-byte name, a 4-byte length, a 1-byte
external flag and 11 reserved bytes, then the data padded to 16 bytes; "vela_bin_stream" first,
"vela_end_stream" last. `as_vela` lays the blocks out as the runtime's driver does
(EthosUBackend_Cortex_M.cpp): base address 0 the weights, 1 the scratch, into which inputs are
copied and from which outputs are read at their offsets, 2 the fast scratch the platform provides.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from executors.ethosu.arith import Unsupported

HEADER, FOOTER = "vela_bin_stream", "vela_end_stream"
_BLOCK = struct.Struct("<16sIB11s")
_IO = struct.Struct("<9i")  # 6-D shape, element size, offset, region
# The driver's base address registers (EthosUBackend_Cortex_M.cpp: bases[] passed to ethosu_invoke_v3).
WEIGHT_REGION, SCRATCH_REGION, FAST_SCRATCH_REGION = 0, 1, 2
_KNOWN = ("cmd_data", "weight_data", "scratch_size", "inputs", "outputs")


@dataclass(frozen=True)
class VelaIO:
    shape: tuple[int, ...]  # Vela's 6-D shape
    elem_size: int
    offset: int  # in the scratch, where the driver copies the tensor's bytes
    region: int  # as Vela wrote it; the driver ignores it and uses the scratch


@dataclass(frozen=True)
class Package:
    cmd_data: bytes
    weight_data: bytes
    scratch_size: int
    inputs: tuple[VelaIO, ...]
    outputs: tuple[VelaIO, ...]

    def as_vela(self, fast_scratch_size: int = 0) -> dict[str, Any]:
        """The arrays executors.ethosu.npu.run_stream takes, in the driver's regions.

        The fast scratch's size is the platform's, not in the package (`fast_scratch_bytes`); with
        none given it is laid out empty, so a stream that uses it fails on a region it cannot reach.
        """
        for kind, ios in (("input", self.inputs), ("output", self.outputs)):
            for i, io in enumerate(ios):
                if io.region != SCRATCH_REGION:
                    raise Unsupported(f"{kind} {i} in region {io.region}: the ExecuTorch driver copies "
                                      f"inputs and outputs through the scratch (region {SCRATCH_REGION})")
        vela: dict[str, Any] = {
            "cmd_data": np.frombuffer(self.cmd_data, dtype=np.uint8),
            "weight_data": np.frombuffer(self.weight_data, dtype=np.uint8),
            "weight_region": WEIGHT_REGION,
            "scratch_size": self.scratch_size, "scratch_region": SCRATCH_REGION,
            "scratch_fast_size": fast_scratch_size, "scratch_fast_region": FAST_SCRATCH_REGION,
        }
        for kind, ios in (("input", self.inputs), ("output", self.outputs)):
            vela[f"{kind}_shape"] = np.array([io.shape for io in ios], dtype=np.int64).reshape(len(ios), 6)
            for key in ("elem_size", "offset", "region"):
                vela[f"{kind}_{key}"] = np.array([getattr(io, key) for io in ios], dtype=np.int64)
        return vela


def fast_scratch_bytes(memory_mode: str) -> int:
    """The fast scratch a platform gives a stream compiled for Vela's `memory_mode`: its arena cache
    (vela.ini: Dedicated_Sram_384KB caches 384 KiB of the arena in SRAM); 0 when the mode has none."""
    import configparser
    from importlib.resources import files

    ini = configparser.ConfigParser()
    ini.read_string(files("ethosu").joinpath("config_files/Arm/vela.ini").read_text())
    section = f"Memory_Mode.{memory_mode}"
    while section in ini:
        if ini.has_option(section, "arena_cache_size"):
            return int(ini[section]["arena_cache_size"])
        section = ini[section].get("inherit", "")
    return 0


def parse(processed: bytes) -> Package:
    """The blocks of one delegate's processed bytes; anything malformed raises ValueError."""
    blocks: dict[str, bytes] = {}
    at = 0
    while at < len(processed):
        if at + _BLOCK.size > len(processed):
            raise ValueError(f"a block header at byte {at} is cut off ({len(processed) - at} bytes left)")
        raw_name, size, external, _ = _BLOCK.unpack_from(processed, at)
        name = raw_name.split(b"\0", 1)[0].decode("ascii", "replace")
        start = at + _BLOCK.size
        at = start + -(-size // 16) * 16
        if at > len(processed):
            raise ValueError(f"block {name!r} says {size} bytes, {len(processed) - start} remain")
        if not blocks and name != HEADER:
            raise ValueError(f"the package starts with block {name!r}, not {HEADER!r}")
        if name in blocks:
            raise ValueError(f"block {name!r} appears twice")
        if external:
            raise Unsupported(f"block {name!r} is an external reference to the program's named data")
        blocks[name] = processed[start : start + size]
        if name == FOOTER:
            if at != len(processed):
                raise ValueError(f"{len(processed) - at} bytes follow {FOOTER!r}")
            break
        if name != HEADER and name not in _KNOWN:
            raise ValueError(f"unknown block {name!r} at byte {start - _BLOCK.size}")
    else:
        raise ValueError(f"the package has no {FOOTER!r} block: truncated")
    missing = [k for k in _KNOWN if k not in blocks]
    if missing:
        raise ValueError(f"the package lacks block(s) {', '.join(missing)}")
    if not blocks["cmd_data"].startswith(b"COP1"):
        raise ValueError("cmd_data does not start with the driver header 'COP1'")
    if len(blocks["scratch_size"]) != 4:
        raise ValueError(f"scratch_size is {len(blocks['scratch_size'])} bytes, not 4")
    return Package(blocks["cmd_data"], blocks["weight_data"], struct.unpack("<I", blocks["scratch_size"])[0],
                   _ios(blocks["inputs"], "inputs"), _ios(blocks["outputs"], "outputs"))


def _ios(data: bytes, name: str) -> tuple[VelaIO, ...]:
    if len(data) < 4:
        raise ValueError(f"block {name!r} is {len(data)} bytes, too short for its count")
    (count,) = struct.unpack_from("<i", data)
    if count < 0 or len(data) != 4 + count * _IO.size:
        raise ValueError(f"block {name!r} says {count} tensors in {len(data)} bytes")
    ios = []
    for i in range(count):
        *shape, elem_size, offset, region = _IO.unpack_from(data, 4 + i * _IO.size)
        if min(shape) < 0 or elem_size <= 0 or offset < 0:
            raise ValueError(f"{name} {i}: shape {shape}, element size {elem_size}, offset {offset}")
        ios.append(VelaIO(tuple(shape), elem_size, offset, region))
    return tuple(ios)
