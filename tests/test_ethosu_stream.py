"""The U55 command stream decoder (executors/ethosu/stream.py) against Vela's own disassembly.

Each model is lowered for ethos_u55_128 through the real pipeline; Vela is then run again, with
the flags ExecuTorch gave it, on the TOSA file it compiled, with --verbose-register-command-stream:
regor prints every command with its fields. The decoder must agree word for word, and on the
fields that both name. Mutations check that the fields are read from the bits, and that a broken
stream raises.
Covers: conv2d (+ReLU, stride 2, padding), depthwise conv, add + sigmoid (a LUT in SHRAM).
Not yet: U65/U85 streams, several delegates in one program, 2D/3D DMA, NPU_SET_KERNEL_STRIDE's
fields (the wheel's struct gives only "param").
"""

from __future__ import annotations

import dataclasses
import json
import re
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from etconform.cases import Case, Lambda, randn
from executors.ethosu.stream import Command, cmd_data_from_npz, decode

REPO = Path(__file__).resolve().parent.parent
TARGET = "ethos_u55_128"


def _two_inputs(g: torch.Generator) -> tuple[torch.Tensor, ...]:
    return randn(g, 1, 8, 8, 8), randn(g, 1, 8, 8, 8)


MODELS = {
    "conv2d": Case(
        "ethosu_stream", "conv2d",
        lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1), torch.nn.ReLU()),
        lambda g: (randn(g, 1, 3, 16, 16),),
    ),
    "depthwise": Case(
        "ethosu_stream", "depthwise", lambda: torch.nn.Conv2d(8, 8, 3, padding=1, groups=8),
        lambda g: (randn(g, 1, 8, 10, 10),),
    ),
    "add_sigmoid": Case("ethosu_stream", "add_sigmoid", lambda: Lambda(lambda x, y: torch.sigmoid(x) + y), _two_inputs),
}
# The operation each model exists to put in a stream.
MODEL_OPERATION = {"conv2d": "NPU_OP_CONV", "depthwise": "NPU_OP_DEPTHWISE", "add_sigmoid": "NPU_OP_ELEMENTWISE"}


@dataclasses.dataclass
class Compiled:
    cmd_data: bytes  # from the pipeline's output/out_vela.npz
    disassembly: list[Line]


@dataclasses.dataclass
class Line:
    offset: int  # bytes from the start of the register command stream
    payload: int | None
    param: int
    opcode: int
    name: str
    fields: dict[str, int | str]


_LINE = re.compile(r"^0x([0-9a-f]+): +(?:([0-9a-f]{8}) )?([0-9a-f]{4}) ([0-9a-f]{4}) - (\w+) +(\d+)(?:, (.*))?$")


def parse_disassembly(printed: str) -> list[Line]:
    lines = []
    for text in printed.splitlines():
        found = _LINE.match(text)
        if not found:
            continue
        offset, payload, param, opcode, name, _, fields = found.groups()
        values: dict[str, int | str] = {}
        for item in (fields or "").split(", ") if fields else []:
            key, _, value = item.partition(" = ")
            values[key] = int(value, 0) if re.fullmatch(r"0x[0-9a-f]+|\d+", value) else value
        payload_value = int(payload, 16) if payload else None
        lines.append(Line(int(offset, 16), payload_value, int(param, 16), int(opcode, 16), name, values))
    return lines


@pytest.fixture(scope="module")
def compile_model(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Compiled]:
    """model name -> its stream and Vela's disassembly of it, each model lowered once."""
    done: dict[str, Compiled] = {}

    def compile_one(name: str) -> Compiled:
        if name not in done:
            done[name] = _lower_and_disassemble(MODELS[name], tmp_path_factory.mktemp(name))
        return done[name]

    return compile_one


def lower_with_vela_flags(case: Case, target: str, workdir: Path) -> tuple[Any, Any, list[str]]:
    """(the built case, its lowering, the flags ExecuTorch gave Vela) for a case that makes one delegate."""
    import executorch.backends.arm.ethosu.backend as ethosu_backend

    from etconform.lowering.pipeline import lower
    from etconform.targets import TARGETS

    built = case.build_all(0)
    flag_file = workdir / "vela_flags.jsonl"
    real = ethosu_backend.vela_compile

    def record_flags(tosa: bytes, args: list[str], **kwargs):
        # Called in Vela's child process (etconform/lowering/vela.py): a file, not a list, carries the flags back.
        with flag_file.open("a") as f:  # copied before vela_compile appends its output dir and input file
            f.write(json.dumps(list(args)) + "\n")
        return real(tosa, args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ethosu_backend, "vela_compile", record_flags)
        lowered = lower(built.module, built.samples[0], TARGETS[target], workdir, built.calibration)
    flags = [json.loads(line) for line in flag_file.read_text().splitlines()] if flag_file.exists() else []
    assert len(flags) == 1 and len(lowered.delegates) == 1, "one delegate, one Vela call per model"
    return built, lowered, flags[0]


def _lower_and_disassemble(case: Case, workdir: Path) -> Compiled:
    _, lowered, flags = lower_with_vela_flags(case, TARGET, workdir)
    tosa = workdir / "out.tosa"  # the file Vela consumed
    assert tosa.read_bytes() == lowered.delegates[0].tosa

    again = workdir / "disassembly"
    printed = subprocess.run(
        [sys.executable, "-m", "ethosu.vela", *flags, f"--output-dir={again}", "--verbose-register-command-stream",
         str(tosa)],
        capture_output=True, text=True, check=True, cwd=workdir,
    ).stdout
    cmd_data = cmd_data_from_npz(workdir / "output" / "out_vela.npz")
    assert cmd_data_from_npz(again / "out_vela.npz") == cmd_data, "Vela's second run compiled another stream"
    return Compiled(cmd_data, parse_disassembly(printed))


@pytest.mark.parametrize("model", sorted(MODELS))
def test_every_command_word_matches_vela(compile_model, model):
    compiled = compile_model(model)
    commands = decode(compiled.cmd_data)
    first = commands[0].offset
    decoded = [((c.offset - first) * 4, c.name, c.opcode, c.param, c.payload) for c in commands]
    printed = [(line.offset, line.name, line.opcode, line.param, line.payload) for line in compiled.disassembly]
    assert decoded == printed
    assert MODEL_OPERATION[model] in {c.name for c in commands}
    assert commands[-1].name == "NPU_OP_STOP"


# The wheel and regor name the same bits differently: these are the correspondences.
ROUND_MODE = {"TFL": "ROUND_MODE_DBL", "TRUNCATE": "ROUND_MODE_TRUNCATE", "NATURAL": "ROUND_MODE_NATURAL"}
IFM_SCALE_MODE = {
    "SCALE_16BIT": "IFM_SCALE_MODE_OPA_OPB_16", "SCALE_OPA_32BIT": "IFM_SCALE_MODE_OPA_32",
    "SCALE_OPB_32BIT": "IFM_SCALE_MODE_OPB_32",
}
OFM_SCALE_MODE = {0: "OFM_SCALE_MODE_PER_CHANNEL", 1: "OFM_SCALE_MODE_GLOBAL"}
ACC_FORMAT = {"INT_32BIT": "ACC_FORMAT_I32", "INT_40BIT": "ACC_FORMAT_I40", "FP_S5_10": "ACC_FORMAT_F16"}
UPSCALE = {"NONE": "NONE", "NEAREST": "NEAREST", "TRANSPOSE": "ZEROS"}  # regor: IFM_UPSCALE_MODE_<these>
DMA_STRIDE = {f"STRIDE_MODE_{n}D": f"DMA_STRIDE_MODE_D{n}" for n in (1, 2, 3)}
BROADCAST = {0: "BROADCAST_MODE_DISABLE", 1: "BROADCAST_MODE_ENABLE"}
# Commands whose fields the two sources do not both name; their words are still compared.
NOT_COMPARED = {
    "NPU_SET_KERNEL_STRIDE": "the wheel's struct has only 'param'; regor splits it into eight fields",
    "NPU_OP_DMA_START": "the wheel names the parameter channel_mode, regor prints no field",
    "NPU_OP_DMA_WAIT": "the wheel marks the parameter reserved, regor prints it as k",
    "NPU_OP_CONV": "no fields",
    "NPU_OP_DEPTHWISE": "no fields",
}


def _activation_function(name: str) -> str:
    if name.startswith("LUT_"):
        return "ACTIVATION_FUNCTION_TABLE_" + name.removeprefix("LUT_")
    return "ACTIVATION_FUNCTION_" + ("RELU" if name == "NONE" else name)  # 0 only clamps: regor calls it RELU


def regor_fields(command: Command) -> dict[str, int | str]:
    """What Vela's disassembly should print for a command, from its decoded fields alone."""
    f = command.fields
    if "precision" in f:
        precision = str(f["precision"])
        expected: dict[str, int | str] = {
            "activation_type": "ACTIVATION_TYPE_" + ("SIGNED" if precision[0] == "S" else "UNSIGNED"),
            "activation_precision": "ACTIVATION_PRECISION_B" + precision[1:],
            "activation_format": f"ACTIVATION_FORMAT_{f['format']}",
        }
        if "scale_mode" in f:
            expected["scale_mode"] = IFM_SCALE_MODE[f["scale_mode"]]
        if "scaling" in f:
            expected["scale_mode"] = OFM_SCALE_MODE[f["scaling"]]
        if "round_mode" in f or "rounding" in f:
            expected["round_mode"] = ROUND_MODE[f.get("round_mode", f.get("rounding"))]
        return expected
    match command.name:
        case "NPU_SET_ACTIVATION":
            return {
                "activation_function": _activation_function(str(f["type"])),
                "activation_clip_range": f"ACTIVATION_CLIP_RANGE_{f['act_clip_range']}",
            }
        case "NPU_SET_ACC_FORMAT":
            return {"acc_format": ACC_FORMAT[f["param"]]}
        case "NPU_SET_IFM_UPSCALE":
            return {"mode": "IFM_UPSCALE_MODE_" + UPSCALE[str(f["mode"])]}
        case "NPU_OP_POOL":
            return {"pooling_mode": f"POOLING_MODE_{f['mode']}"}
        case "NPU_OP_ELEMENTWISE":
            return {"elementwise_mode": f"ELEMENTWISE_MODE_{f['mode']}"}
        case "NPU_SET_OFM_SCALE" | "NPU_SET_OPA_SCALE":
            return {"shift": f["shift"], "scale": f["data"]}
        case "NPU_SET_DMA0_SRC_REGION" | "NPU_SET_DMA0_DST_REGION":
            return {
                "region": f["region"],
                "region_mode": "DMA_REGION_MODE_" + ("INTERNAL" if f["internal"] else "EXTERNAL"),
                "stride_mode": DMA_STRIDE[f["stride_mode"]],
            }
        case "NPU_SET_IFM2_BROADCAST":
            return {
                "broadcast_h": BROADCAST[f["broadcast_height"]], "broadcast_w": BROADCAST[f["broadcast_width"]],
                "broadcast_c": BROADCAST[f["broadcast_depth"]],
                "operand_order": "IFM2_OPERAND_ORDER_ORDER_" + ("A" if f["operand_order"] else "B"),
                "broadcast_constant": BROADCAST[f["broadcast_scalar"]],
            }
    if len(f) == 1:  # one number (a size, zero point, clamp, region, address, length, scale, mask)
        return {"*": next(iter(f.values()))}
    raise AssertionError(f"no correspondence for {command.name} {f}: add one or list it in NOT_COMPARED")


@pytest.mark.parametrize("model", sorted(MODELS))
def test_decoded_fields_match_vela(compile_model, model):
    compiled = compile_model(model)
    mismatches, compared = [], set()
    for command, line in zip(decode(compiled.cmd_data), compiled.disassembly, strict=True):
        if command.name in NOT_COMPARED:
            continue
        expected = regor_fields(command)
        if "*" in expected:
            printed = list(line.fields.values())
            expected_values = [expected["*"]]
        else:
            printed = [line.fields.get(key) for key in expected]
            expected_values = list(expected.values())
        if printed != expected_values:
            mismatches.append((line.offset, command.name, command.fields, line.fields))
        compared.add(command.name)
    assert mismatches == []
    named = {"NPU_SET_OFM_PRECISION", "NPU_SET_IFM_PRECISION", "NPU_SET_OFM_ZERO_POINT", "NPU_SET_ACTIVATION"}
    assert named <= compared


def _word_of(commands: list[Command], name: str, **fields: int | str) -> Command:
    return next(c for c in commands if c.name == name and fields.items() <= c.fields.items())


def _flip(cmd_data: bytes, word: int, bit: int) -> bytes:
    (value,) = struct.unpack_from("<I", cmd_data, word * 4)
    return cmd_data[: word * 4] + struct.pack("<I", value ^ (1 << bit)) + cmd_data[word * 4 + 4 :]


def test_flipping_a_round_mode_bit_changes_the_decoded_round_mode(compile_model):
    cmd_data = compile_model("conv2d").cmd_data
    commands = decode(cmd_data)
    target = _word_of(commands, "NPU_SET_OFM_PRECISION", rounding="NATURAL")  # rounding is param bits 14-15
    mutated = decode(_flip(cmd_data, target.offset, 16 + 15))
    index = commands.index(target)
    assert mutated[index].fields["rounding"] == "TFL"
    assert mutated[:index] + mutated[index + 1 :] == commands[:index] + commands[index + 1 :]
    with pytest.raises(ValueError, match="rounding = 3 is not a value of rounding"):
        decode(_flip(cmd_data, target.offset, 16 + 14))


def test_flipping_zero_point_and_scale_bits_changes_exactly_those_fields(compile_model):
    cmd_data = compile_model("conv2d").cmd_data
    commands = decode(cmd_data)
    zero_point = _word_of(commands, "NPU_SET_OFM_ZERO_POINT")
    mutated = decode(_flip(cmd_data, zero_point.offset, 16 + 3))
    assert mutated[commands.index(zero_point)].fields["param"] == zero_point.fields["param"] ^ 8
    ofm_scale = _word_of(commands, "NPU_SET_OFM_SCALE")
    mutated = decode(_flip(cmd_data, ofm_scale.offset + 1, 5))  # the payload word
    changed = mutated[commands.index(ofm_scale)]
    assert changed.fields == {"shift": ofm_scale.fields["shift"], "data": ofm_scale.fields["data"] ^ 32}


def test_a_truncated_stream_raises(compile_model):
    cmd_data = compile_model("conv2d").cmd_data
    with pytest.raises(ValueError, match="says .* words"):
        decode(cmd_data[:-4])
    with pytest.raises(ValueError, match="not whole 32-bit words"):
        decode(cmd_data[:-1])
    # A command stream whose last command is a CMD1 without its payload word.
    header = struct.pack("<4I", int.from_bytes(b"COP1", "little"), 0x05, 0x05, 0x00010002)
    with pytest.raises(ValueError, match="NPU_SET_OFM_SCALE at word 4 lacks its payload"):
        decode(header + struct.pack("<I", 0x001F4024))


def test_unknown_opcodes_and_reserved_bits_raise_naming_the_word(compile_model):
    cmd_data = compile_model("conv2d").cmd_data
    conv = _word_of(decode(cmd_data), "NPU_OP_CONV")
    unknown = cmd_data[: conv.offset * 4] + struct.pack("<I", 0x0004) + cmd_data[conv.offset * 4 + 4 :]
    with pytest.raises(ValueError, match=f"unknown opcode 0x0004 at word {conv.offset}$"):
        decode(unknown)
    with pytest.raises(ValueError, match=f"unknown opcode 0x8002 at word {conv.offset}$"):
        decode(_flip(cmd_data, conv.offset, 15))  # a payload size U55 does not have
    with pytest.raises(ValueError, match=f"NPU_OP_CONV at word {conv.offset} sets reserved bits"):
        decode(_flip(cmd_data, conv.offset, 16))
    with pytest.raises(ValueError, match="COP1"):
        decode(b"COP2" + cmd_data[4:])


def test_the_tables_are_what_the_generator_writes():
    subprocess.run([sys.executable, str(REPO / "tools" / "gen_ethosu_tables.py"), "--check"], check=True, cwd=REPO)
