#!/usr/bin/env python3
"""A stand-in for Arm's Corstone FVPs running arm_executor_runner, for testing the FVP executor.

The real FVP cannot be had on this machine. This program honours its interface as
ExecuTorch's run_corstone uses it: the -C parameters of its board (an unknown one is
an error, as on the FVP), -a ELF, --timelimit, the semihosting folder and command line
(at most 256 characters), out-N.bin written there, the runner's log lines and the
Ethos-U PMU report on stdout. It cannot simulate the NPU: the outputs it writes are
the TOSA reference model's for the same inputs, which etconform keeps beside the
program (../outputs/tosa_ref/<digest of the inputs>/); with none there it logs an
error line, as a failing runner does. Its cycle counts are made up (from the size of
the program), so they test parsing, not performance.

FVP_STANDIN_FAULT=hardfault|hang|perturb makes it misbehave (perturb adds
FVP_STANDIN_PERTURB, default 1.0, to the first output value).
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sys
import time
from pathlib import Path

BOARDS = {
    "FVP_Corstone_SSE-300_Ethos-U55": ("", "mps3_board", ("visualisation.disable-visualisation", "telnetterminal0.start_telnet", "uart0.out_file")),
    "FVP_Corstone_SSE-300_Ethos-U65": ("", "mps3_board", ("visualisation.disable-visualisation", "telnetterminal0.start_telnet", "uart0.out_file")),
    "FVP_Corstone_SSE-320": (
        "mps4_board.subsystem.",
        "mps4_board",
        ("visualisation.disable-visualisation", "telnetterminal0.start_telnet", "uart0.out_file",
         "uart0.unbuffered_output", "uart0.shutdown_on_eot"),
    ),
}
CPU_PARAMETERS = ("semihosting-enable", "semihosting-stack_base", "semihosting-heap_limit", "semihosting-cwd", "semihosting-cmd_line")


def log(level: str, message: str) -> None:
    print(f"{level} [executorch:arm_executor_runner.cpp:0 main()] {message}", flush=True)


def fail(message: str, code: int = 1) -> None:
    print(f"Error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def parse(argv: list[str], binary: str) -> tuple[dict[str, str], str, int]:
    prefix, board, platform = BOARDS[binary]
    known = {f"{board}.{p}" for p in platform} | {f"{prefix}cpu0.{p}" for p in CPU_PARAMETERS}
    known |= {f"{prefix}ethosu.num_macs", f"{prefix}ethosu.extra_args", "vis_hdlcd.disable_visualisation"}
    params, elf, timelimit = {}, "", 0
    args = iter(argv)
    for arg in args:
        if arg == "-C":
            name, _, value = next(args, "").partition("=")
            if name not in known:
                fail(f"Parameter '{name}' not found in {binary}")
            params[name] = value
        elif arg in ("-a", "--application"):
            elf = next(args, "")
        elif arg == "--timelimit":
            timelimit = int(next(args, "0"))
        else:
            fail(f"unknown option {arg}")
    return {k.removeprefix(prefix).removeprefix("cpu0."): v for k, v in params.items()}, elf, timelimit


def main() -> None:
    binary = Path(sys.argv[0]).name
    if binary not in BOARDS:
        fail(f"stand-in called as {binary}: link it as one of {sorted(BOARDS)}")
    if sys.argv[1:] == ["--version"]:
        print(f"Fast Models [11.27 (etconform stand-in)]\n{binary} stand-in")
        return
    params, elf, timelimit = parse(sys.argv[1:], binary)
    if not elf or not Path(elf).is_file() or Path(elf).read_bytes()[:4] != b"\x7fELF":
        fail(f"could not load application '{elf}': not an ELF file")
    if params.get("semihosting-enable") != "1":
        log("E", "semihosting is off: the runner cannot read its program")
        return
    cwd = Path(params.get("semihosting-cwd", "."))
    cmd_line = params.get("semihosting-cmd_line", "")
    if not (cmd_line.startswith("'") and cmd_line.endswith("'")):
        fail("semihosting-cmd_line must be quoted")
    words = shlex.split(cmd_line[1:-1][:256])  # the FVP truncates longer command lines
    options: dict[str, list[str]] = {}
    for flag, value in zip(words[1::2], words[2::2]):
        options.setdefault(flag, []).append(value)
    fault = os.environ.get("FVP_STANDIN_FAULT", "")
    if fault == "hang":
        time.sleep(timelimit + 1)
        print(f"Info: Simulation is stopping. Reason: Time limit of {timelimit} s reached.")
        return
    program = (cwd / options.get("-m", ["program.pte"])[0]).read_bytes()
    if program[4:6] != b"ET":
        log("E", "Program identifier 'ET' not found: not an ExecuTorch program")
        return
    log("I", f"Model buffer loaded, has {len(program)} bytes")
    digest = hashlib.sha256()
    for name in options.get("-i", []):
        digest.update((cwd / name).read_bytes())
    oracle = cwd.parent / "outputs" / "tosa_ref" / digest.hexdigest()[:16]
    if fault == "hardfault":
        print("Hard fault: the stand-in was asked to fault", flush=True)
        return
    outputs = sorted(oracle.glob("out-*.bin"))
    if not outputs:
        log("E", f"stand-in: no TOSA reference outputs in {oracle} to stand in for the NPU")
        return
    base = options.get("-o", ["out"])[0]
    for path in outputs:
        data = bytearray(path.read_bytes())
        if fault == "perturb" and path.name == "out-0.bin":
            import struct

            (first,) = struct.unpack_from("<f", data)
            struct.pack_into("<f", data, 0, first + float(os.environ.get("FVP_STANDIN_PERTURB", "1.0")))
        (cwd / path.name.replace("out", base, 1)).write_bytes(bytes(data))
    npu = 1000 + len(program) // 4
    log("I", "NPU Inferences : 1")
    log("I", "NPU delegations: 1 (1.00 per inference)")
    log("I", f"Inference runtime: {npu * 2} CPU cycles total (2.00 per inference)")
    log("I", f"cpu_wait_for_npu_cntr : {npu} CPU cycles ({npu}.00 per inference)")
    log("I", "Ethos-U PMU report:")
    log("I", f"ethosu_pmu_cycle_cntr : {npu} ({npu}.00 per inference)")
    print("Info: /OSCI/SystemC: Simulation stopped by user.", flush=True)


if __name__ == "__main__":
    main()
