"""Decode the Ethos-U85 command stream that Vela 5.1.0 writes, and tell a U85 stream from a U55 one.

The word format and driver header are the U55's (executors/ethosu/stream.py); the opcodes and
fields come from executors/ethosu/u85_tables.py, generated from regor's own register header, so
names and enum values are exactly what `vela --verbose-register-command-stream` prints. Fields
X_hi/X_lo are joined into X (addresses: 40 bits). Anything the tables do not describe raises
ValueError: an executor must not run half a stream.
"""

from __future__ import annotations

import struct

from executors.ethosu import stream
from executors.ethosu import u85_tables as tables
from executors.ethosu.stream import Command

_CONFIG = 0x01  # the driver action that carries the config word
PRODUCTS = {0: "ethos-u55", 1: "ethos-u65", 2: "ethos-u85"}  # the config register's product field, bits 28-31


def npu_of(cmd_data: bytes) -> tuple[str, int]:
    """(product, MACs per cycle) from the driver config word after "COP1": which NPU the stream is for."""
    if len(cmd_data) < 12 or cmd_data[:4] != b"COP1":
        raise ValueError("cmd_data does not start with the driver header 'COP1'")
    tag, config = struct.unpack_from("<2I", cmd_data, 4)
    if tag & 0xFF != _CONFIG:
        raise ValueError("cmd_data has no driver config word after 'COP1'")
    if config >> 28 not in PRODUCTS:
        raise ValueError(f"driver config word {config:#010x} names product {config >> 28}, not an Ethos-U")
    return PRODUCTS[config >> 28], 1 << (config & 0xF)


def decode(cmd_data: bytes) -> list[Command]:
    """Every register command of every command stream in a U85 cmd_data, in order."""
    if len(cmd_data) % 4:
        raise ValueError(f"cmd_data is {len(cmd_data)} bytes, not whole 32-bit words")
    if npu_of(cmd_data)[0] != "ethos-u85":
        raise ValueError(f"cmd_data is for {npu_of(cmd_data)[0]}, not ethos-u85")
    return stream.decode(cmd_data, tables)
