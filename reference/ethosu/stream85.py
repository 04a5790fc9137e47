"""Decode the Ethos-U85 command stream that Vela 5.1.0 writes, and tell a U85 stream from a U55 one.

The word format and driver header are the U55's (reference/ethosu/stream.py); the opcodes and
fields come from reference/ethosu/u85_tables.py, generated from regor's own register header, so
names and enum values are exactly what `vela --verbose-register-command-stream` prints. Fields
X_hi/X_lo are joined into X (addresses: 40 bits). Anything the tables do not describe raises
ValueError: an executor must not run half a stream.
"""

from __future__ import annotations

import struct

from reference.ethosu import u85_tables as tables
from reference.ethosu.stream import Command

_FOURCC = int.from_bytes(b"COP1", "little")
# Driver action (low byte of the tag) -> words it takes; CMD_STREAM is followed by its commands.
_CONFIG, _CMD_STREAM = 0x01, 0x02
_ACTION_WORDS = {_CONFIG: 3, _CMD_STREAM: 1, 0x03: 1, 0x04: 1, 0x05: 1}
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
    words = struct.unpack(f"<{len(cmd_data) // 4}I", cmd_data)
    commands: list[Command] = []
    at = 1
    while at < len(words):
        action = words[at] & 0xFF
        if action not in _ACTION_WORDS or at + _ACTION_WORDS[action] > len(words):
            raise ValueError(f"unknown or truncated driver action 0x{action:02x} at word {at}")
        if action == _CMD_STREAM:
            length = (words[at] >> 16) | ((words[at] >> 8) & 0xFF) << 16
            start = at + 1
            if start + length > len(words):
                raise ValueError(f"command stream at word {start} says {length} words, {len(words) - start} remain")
            commands += _decode_commands(words, start, start + length)
            at = start + length
        else:
            at += _ACTION_WORDS[action]
    return commands


def _decode_commands(words: tuple[int, ...], start: int, end: int) -> list[Command]:
    commands = []
    at = start
    while at < end:
        word = words[at]
        opcode, param = word & 0xFFFF, word >> 16
        code, must_be_zero, payload_words = opcode & 0x3FF, (opcode >> 10) & 0xF, opcode >> 14
        table = {0: tables.CMD0, 1: tables.CMD1}.get(payload_words, {})
        if must_be_zero or code not in table:
            raise ValueError(f"unknown opcode 0x{opcode:04x} at word {at}")
        name = table[code]
        payload = None
        if payload_words:
            if at + 1 >= end:
                raise ValueError(f"{name} at word {at} lacks its payload word: the stream is truncated")
            payload = words[at + 1]
        value = word | (payload or 0) << 32
        if value & tables.RESERVED.get(name, 0):
            raise ValueError(f"{name} at word {at} sets reserved bits: 0x{value & tables.RESERVED[name]:x}")
        commands.append(Command(name, opcode, param, payload, _fields(name, value, at), at))
        at += 1 + payload_words
    return commands


def _fields(name: str, value: int, at: int) -> dict[str, int | str]:
    found: dict[str, int | str] = {}
    for field_name, lsb, width, enum in tables.FIELDS[name]:
        bits = (value >> lsb) & ((1 << width) - 1)
        if enum == "signed":
            found[field_name] = bits - (1 << width) if bits >> (width - 1) else bits
        elif enum:
            if bits not in tables.ENUMS[enum]:
                raise ValueError(f"{name} at word {at}: {field_name} = {bits} is not a value of {enum}")
            found[field_name] = tables.ENUMS[enum][bits]
        else:
            found[field_name] = bits
    for high in [f for f in found if f.endswith("_hi")]:
        low = high.removesuffix("_hi") + "_lo"
        width = next(w for f, _, w, _ in tables.FIELDS[name] if f == low)
        found[high.removesuffix("_hi")] = int(found.pop(high)) << width | int(found.pop(low))
    return found
