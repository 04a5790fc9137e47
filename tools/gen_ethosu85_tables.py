"""Write executors/ethosu/u85_tables.py from the U85 register definitions in the Vela 5.1.0 sdist.

    pip download --no-binary :all: --no-deps ethos-u-vela==5.1.0 -d /tmp/vela-sdist  # then unpack it
    .venv/bin/python tools/gen_ethosu85_tables.py SDIST_DIR          # (re)write the tables
    .venv/bin/python tools/gen_ethosu85_tables.py SDIST_DIR --check  # exit 1 if the file differs

SDIST_DIR is the unpacked sdist (or a .tar.gz of it). The source is regor's generated header
ethosu/regor/architecture/ethosu85/ethos_u85_interface.hpp: its command structs give the bit
fields in order (they must tile 32 or 64 bits), its disassemble() functions say which enum each
field prints with, and its *_str arrays give the names Vela's --verbose-register-command-stream
prints. Nothing is typed by hand: a construct the parser does not know stops the generator.
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from pathlib import Path

OUTPUT = Path(__file__).resolve().parent.parent / "executors" / "ethosu" / "u85_tables.py"
HEADER = "ethosu/regor/architecture/ethosu85/ethos_u85_interface.hpp"
_OPCODE_FIELDS = ("opcode", "control")

_ENUM = re.compile(r"^enum class (\w+) : \w+\n\{\n(.*?)\n\};", re.M | re.S)
_STR = re.compile(r"^static const char\* (\w+)_str\[\] =\n\{\n(.*?)\n\};", re.M | re.S)
_STRUCT = re.compile(r"^struct (npu_(?:op|set)_\w+_t)\n\{\n(.*?)^\};", re.M | re.S)
# isa::disassemble's switch: (control, opcode) -> the struct it reads and the name it prints.
_CASE = re.compile(
    r"case \(static_cast<uint32_t>\(NPU_NAMESPACE::cmd_ctrl::CMD(\d)_CTRL\) << 14\) \| "
    r"static_cast<uint32_t>\(NPU_NAMESPACE::cmd\1_opcode::(\w+)\):\n\s*\{\n"
    r"\s*const (\w+)& v = [^\n]*\n\s*op = \"(\w+)\";"
)
_BITFIELD = re.compile(r"^    uint32_t (\w+):(\d+);$", re.M)
_PRINTED = re.compile(r'push_back\(std::make_pair<std::string, std::string>\("(\w+)", (.*)\)\);')
_ENUM_USE = re.compile(r"^\((\w+) < \(sizeof\((\w+)_str\)")
_SIGNED = re.compile(r"^std::to_string\(\(\((\w+) <= std::numeric_limits<int>::max\(\) \? .* << (\d+)\) >> \2\)$")


def read_sdist(source: Path) -> tuple[str, str]:
    """(header text, Vela version from PKG-INFO) of an unpacked sdist or its .tar.gz."""
    files = {}
    if source.is_file():
        with tarfile.open(source) as archive:
            for member in archive.getmembers():
                for wanted in (HEADER, "PKG-INFO"):
                    if member.name.endswith(wanted) and member.name.count("/") == wanted.count("/") + 1:
                        files[wanted] = archive.extractfile(member).read().decode()
    else:
        for wanted in (HEADER, "PKG-INFO"):
            matches = sorted(source.glob(f"*{wanted}")) or sorted(source.glob(f"*/{wanted}"))
            if matches:
                files[wanted] = matches[0].read_text()
    if len(files) != 2:
        raise SystemExit(f"{source} lacks {HEADER} or PKG-INFO: is it the ethos-u-vela sdist?")
    return files[HEADER], re.search(r"^Version: (\S+)$", files["PKG-INFO"], re.M)[1]


def parse_enums(text: str) -> dict[str, dict[str, int]]:
    enums = {}
    for name, body in _ENUM.findall(text):
        members = {}
        for line in body.splitlines():
            found = re.fullmatch(r"\s*(\w+) = (\d+),", line)
            if not found:
                raise SystemExit(f"enum {name}: cannot read {line!r}")
            members[found[1]] = int(found[2])
        enums[name] = members
    return enums


def parse_printed_names(text: str, enums: dict[str, dict[str, int]]) -> dict[str, dict[int, str]]:
    """enum -> value -> the string Vela's disassembly prints ("****" slots are not values)."""
    printed = {}
    for name, body in _STR.findall(text):
        strings = re.findall(r'^\s*"([^"]*)",$', body, re.M)
        if len(strings) != len(body.splitlines()):
            raise SystemExit(f"{name}_str: cannot read every line")
        table = {value: s for value, s in enumerate(strings) if s != "****"}
        if name in enums:  # cross-check the strings against the enum's own values
            expected = {v: m for m, v in enums[name].items()}
            if set(table) != set(expected) or any(not table[v].endswith(expected[v]) for v in table):
                raise SystemExit(f"{name}_str does not match enum class {name}")
        printed[name] = table
    return printed


def parse_commands(text: str) -> dict[str, tuple[list[tuple[str, int, int, str]], int, int]]:
    """struct -> ((field, lsb, width, enum or "signed" or ""), ...), reserved bit mask, payload words."""
    commands = {}
    for name, body in _STRUCT.findall(text):
        private = body.split("public:")[0]
        bits, fields, reserved = 0, [], 0
        for field_name, width_text in _BITFIELD.findall(private):
            width = int(width_text)
            if field_name.startswith("reserved"):
                reserved |= ((1 << width) - 1) << bits
            elif field_name not in _OPCODE_FIELDS:
                fields.append([field_name, bits, width, ""])
            bits += width
        if bits not in (32, 64):
            raise SystemExit(f"{name}: fields take {bits} bits, not one or two words")
        by_name = {f[0]: f for f in fields}
        for printed_name, how in _PRINTED.findall(body.split("void disassemble")[-1]):
            enum_use = _ENUM_USE.match(how)
            if enum_use:
                by_name[enum_use[1]][3] = enum_use[2]
            elif how == f"std::to_string({printed_name})" and printed_name in by_name:
                continue
            elif _SIGNED.match(how) and _SIGNED.match(how)[1] == printed_name:
                if 32 - int(_SIGNED.match(how)[2]) != by_name[printed_name][2]:
                    raise SystemExit(f"{name}: {printed_name} is sign-extended from another width than its own")
                by_name[printed_name][3] = "signed"  # printed as a two's complement number
            elif how == "saddr.str()" and {f"{printed_name}_hi", f"{printed_name}_lo"} <= by_name.keys():
                continue  # the decoder joins X_hi:X_lo into X
            else:
                raise SystemExit(f"{name}: cannot read how {printed_name} is printed: {how}")
        commands[name] = ([tuple(f) for f in fields], reserved, bits // 32 - 1)
    return commands


def _entry(key: str, items: list[str], brackets: str) -> list[str]:
    """One `"key": (items),` line, or one item a line when that would pass 120 characters."""
    open_, close = brackets
    if brackets == "()" and len(items) == 1:
        items = [items[0] + ","]
    line = f'    "{key}": {open_}{", ".join(items)}{close},'
    if len(line) <= 120:
        return [line]
    return [f'    "{key}": {open_}', *(f"        {item}," for item in items), f"    {close},"]


def render(text: str, vela_version: str) -> str:
    enums = parse_enums(text)
    printed = parse_printed_names(text, enums)
    structs = parse_commands(text)
    opcodes: dict[int, dict[str, int]] = {0: {}, 1: {}}
    commands = {}
    for control, opcode, struct_name, name in _CASE.findall(text):
        payload = int(control)
        if structs[struct_name][2] != payload:
            raise SystemExit(f"{name} is a CMD{payload} opcode without a {payload + 1}-word struct")
        opcodes[payload][name] = enums[f"cmd{payload}_opcode"][opcode]
        commands[name] = structs[struct_name]
    for payload in (0, 1):
        if len(opcodes[payload]) != len(enums[f"cmd{payload}_opcode"]):
            raise SystemExit(f"the disassembler does not name every cmd{payload}_opcode")
    used = sorted({e for fields, _, _ in commands.values() for *_, e in fields if e and e != "signed"})
    version = ".".join(re.search(rf"#define NNX_ARCH_VERSION_{p} (\d+)", text)[1] for p in ("MAJOR", "MINOR", "PATCH"))
    lines = [
        f"# Generated by tools/gen_ethosu85_tables.py from ethos-u-vela {vela_version}",
        f"# ({HEADER}, architecture {version}). Do not hand-edit.",
        '"""Ethos-U85 register command tables: opcodes, enums as Vela prints them, the bit layout of every command."""',
        "",
        f'VELA_VERSION = "{vela_version}"',
        f'ARCH_VERSION = "{version}"',
        "",
        "# 10-bit command code -> name: CMD0 commands are one word, CMD1 commands carry a 32-bit payload word.",
    ]
    for payload in (0, 1):
        lines.append(f"CMD{payload} = {{")
        lines += [f'    0x{v:03X}: "{n}",' for n, v in sorted(opcodes[payload].items(), key=lambda item: item[1])]
        lines.append("}")
    lines += ["# enum -> value -> the name Vela's disassembly prints.", "ENUMS = {"]
    for name in used:
        lines += _entry(name, [f'{v}: "{s}"' for v, s in printed[name].items()], "{}")
    lines += [
        "}",
        '# command -> ((field, lsb, width, enum or "signed" or ""), ...): the command word is bits 0-31, the',
        "# payload 32-63. X_hi and X_lo fields are one value X = X_hi:X_lo. Other numbers are raw bits.",
        "FIELDS = {",
    ]
    names = [n for payload in (0, 1) for n in opcodes[payload]]
    for name in names:
        lines += _entry(name, [f'("{f}", {lsb}, {w}, "{e}")' for f, lsb, w, e in commands[name][0]], "()")
    lines += ["}", "# command -> bits the header marks reserved: the decoder refuses a stream that sets them."]
    lines.append("RESERVED = {")
    lines += [f'    "{name}": 0x{commands[name][1]:X},' for name in names if commands[name][1]]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help="the unpacked ethos-u-vela 5.1.0 sdist, or its .tar.gz")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = render(*read_sdist(args.sdist))
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is not what {Path(__file__).name} generates: regenerate it", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
