"""Decode the Ethos-U55 command stream that Vela writes (`cmd_data` in out_vela.npz).

cmd_data = driver header ("COP1", then driver actions) + register command stream. Each
command is a 32-bit word: low 16 bits the opcode, high 16 bits a parameter; opcode bit 14
set means a 32-bit payload word follows. Field layouts come from executors/ethosu/u55_tables.py.
Anything the tables do not describe raises ValueError: an executor must not run half a stream.
Field values are the raw register bits (zero points and clamps are 16-bit two's complement).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from executors.ethosu import u55_tables

_FOURCC = int.from_bytes(b"COP1", "little")
# Driver action (low byte of the tag) -> words it takes; CMD_STREAM is followed by its commands.
_CONFIG, _CMD_STREAM, _READ_APB, _DUMP_SHRAM, _NOP = 0x01, 0x02, 0x03, 0x04, 0x05
_ACTION_WORDS = {_CONFIG: 3, _CMD_STREAM: 1, _READ_APB: 1, _DUMP_SHRAM: 1, _NOP: 1}


@dataclass(frozen=True)
class Command:
    name: str
    opcode: int  # the word's low 16 bits, as Vela's disassembly prints them
    param: int
    payload: int | None
    fields: dict[str, int | str] = field(default_factory=dict)
    offset: int = 0  # word index in cmd_data


def cmd_data_from_npz(path: str | Path) -> bytes:
    """The command stream bytes of a Vela output file (output/out_vela.npz)."""
    import numpy as np

    with np.load(path, allow_pickle=True) as data:
        return data["cmd_data"].tobytes()


def decode(cmd_data: bytes, tables: ModuleType = u55_tables) -> list[Command]:
    """Every register command of every command stream in cmd_data, in order, with the field
    layouts of `tables` (u55_tables, or u85_tables through executors/ethosu/stream85.py)."""
    if len(cmd_data) % 4:
        raise ValueError(f"cmd_data is {len(cmd_data)} bytes, not whole 32-bit words")
    words = struct.unpack(f"<{len(cmd_data) // 4}I", cmd_data)
    if not words or words[0] != _FOURCC:
        raise ValueError("cmd_data does not start with the driver header 'COP1'")
    commands: list[Command] = []
    at = 1
    while at < len(words):
        action = words[at] & 0xFF
        if action not in _ACTION_WORDS:
            raise ValueError(f"unknown driver action 0x{action:02x} at word {at}")
        if at + _ACTION_WORDS[action] > len(words):
            raise ValueError(f"driver action 0x{action:02x} at word {at} is truncated")
        if action == _CMD_STREAM:
            length = (words[at] >> 16) | ((words[at] >> 8) & 0xFF) << 16
            start = at + 1
            if start + length > len(words):
                raise ValueError(f"command stream at word {start} says {length} words, {len(words) - start} remain")
            commands += _decode_commands(words, start, start + length, tables)
            at = start + length
        else:
            at += _ACTION_WORDS[action]
    return commands


def _decode_commands(words: tuple[int, ...], start: int, end: int, tables: ModuleType) -> list[Command]:
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
        commands.append(Command(name, opcode, param, payload, _fields(name, value, at, tables), at))
        at += 1 + payload_words
    return commands


def _fields(name: str, value: int, at: int, tables: ModuleType) -> dict[str, int | str]:
    """Raw field bits by name; enums by their value names, "signed" fields sign-extended, and
    X_hi/X_lo pairs joined into X (U85 addresses: 40 bits)."""
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
