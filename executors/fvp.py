"""Arm Corstone FVPs (Corstone-300: Ethos-U55/U65, Corstone-320: Ethos-U85) running arm_executor_runner.

The interface is ExecuTorch's (backends/arm/test/runner_utils.py, run_corstone): the
program and raw inputs go into a semihosting folder, the runner reads them through
semihosting (`-m program.pte -o out -i i0.bin`), writes out-N.bin there, and logs
through the UART on stdout, with the Ethos-U PMU counters at the end. An error or
fault line in that log fails the run.

Where to find things (each an option, or an environment variable for other tools):
  --fvp-path DIRS     ETCONFORM_FVP_PATH     folders holding the FVP binaries (else PATH)
  --arm-runner PATH   ETCONFORM_ARM_RUNNER   an arm_executor_runner ELF, or ExecuTorch's
                      arm_test/ build folder with arm_semihosting_executor_runner_<board>/
  --fvp-timeout S     ETCONFORM_FVP_TIMEOUT  the FVP's --timelimit (default 120 s)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from etconform.stages import Stage, StageError
from executors import files
from executors.base import Availability, ExecResult, Executor


@dataclass(frozen=True)
class Board:
    name: str  # ExecuTorch's name: arm_semihosting_executor_runner_<name>
    binary: str
    prefix: str  # where the board puts the CPU and NPU in the FVP's parameter tree
    platform: tuple[str, ...]  # the board's own -C options, as run_corstone passes them


_MPS3 = (
    "mps3_board.visualisation.disable-visualisation=1",
    "mps3_board.telnetterminal0.start_telnet=0",
    "mps3_board.uart0.out_file='-'",
)
_MPS4 = (
    "mps4_board.visualisation.disable-visualisation=1",
    "vis_hdlcd.disable_visualisation=1",
    "mps4_board.telnetterminal0.start_telnet=0",
    "mps4_board.uart0.out_file='-'",
    "mps4_board.uart0.unbuffered_output=1",
    "mps4_board.uart0.shutdown_on_eot=1",
)
BOARDS = {
    "ethos-u55": Board("corstone-300", "FVP_Corstone_SSE-300_Ethos-U55", "", _MPS3),
    "ethos-u65": Board("corstone-300-u65", "FVP_Corstone_SSE-300_Ethos-U65", "", _MPS3),
    "ethos-u85": Board("corstone-320", "FVP_Corstone_SSE-320", "mps4_board.subsystem.", _MPS4),
}
GET_FVP = "install Arm's Corstone FVPs (ExecuTorch's examples/arm/setup.sh --i-agree-to-the-contained-eula)"
GET_RUNNER = (
    "build it with ExecuTorch's backends/arm/scripts/build_executor_runner.sh --target={config} "
    "(the same memory mode as the target) and pass --arm-runner PATH or set ETCONFORM_ARM_RUNNER"
)
# The errors run_corstone looks for in the FVP's log.
ERROR_LINE = re.compile(r"(^[EF][: ].*$)|(^.*Hard fault.*$)|(^.*Assertion.*$)", re.MULTILINE)
COUNTERS = {
    "npu_cycles": re.compile(r"ethosu_pmu_cycle_cntr\s*:\s*(\d+)"),
    "cpu_cycles": re.compile(r"Inference runtime:\s*(\d+) CPU cycles"),
    "cpu_wait_for_npu_cycles": re.compile(r"cpu_wait_for_npu_cntr\s*:\s*(\d+)"),
    "npu_delegations": re.compile(r"NPU delegations:\s*(\d+)"),
}
MAX_COMMAND_LINE = 256  # the FVP truncates a longer semihosting command line


def board_for(config: str) -> tuple[Board, int]:
    """'ethos-u85-256' -> (Corstone-320, 256 MACs)."""
    npu, macs = config.rsplit("-", 1)
    return BOARDS[npu], int(macs)


def find_fvp(board: Board) -> str | None:
    folders = [p for p in os.environ.get("ETCONFORM_FVP_PATH", "").split(os.pathsep) if p]
    for folder in folders:
        found = shutil.which(board.binary, path=folder)
        if found:
            return found
    return shutil.which(board.binary)


def find_runner(board: Board) -> Path | None:
    given = os.environ.get("ETCONFORM_ARM_RUNNER", "")
    roots = [Path(given)] if given else []
    if os.environ.get("EXECUTORCH_ROOT"):
        roots.append(Path(os.environ["EXECUTORCH_ROOT"]) / "arm_test")
    for root in roots:
        if root.is_file():
            return root
        build = root / f"arm_semihosting_executor_runner_{board.name}"
        for candidate in (build / "arm_executor_runner", build / "Release" / "arm_executor_runner"):
            if candidate.is_file():
                return candidate
    return None


def command(board: Board, macs: int, fvp: str, elf: Path, folder: Path, cmd_line: str, timelimit: int) -> list[str]:
    p = board.prefix
    options = [
        f"{p}ethosu.num_macs={macs}",
        *board.platform,
        f"{p}cpu0.semihosting-enable=1",
        f"{p}cpu0.semihosting-stack_base=0",
        f"{p}cpu0.semihosting-heap_limit=0",
        f"{p}cpu0.semihosting-cwd={folder}",
        f"{p}ethosu.extra_args='--fast'",
        f"{p}cpu0.semihosting-cmd_line='{cmd_line}'",
    ]
    args = [fvp]
    for option in options:
        args += ["-C", option]
    return [*args, "-a", str(elf), "--timelimit", str(timelimit)]


def counters(log: str) -> dict[str, int]:
    found = {}
    for name, pattern in COUNTERS.items():
        match = pattern.search(log)
        if match:
            found[name] = int(match.group(1))
    return found


class CorstoneFVP(Executor):
    name = "fvp"
    role = "lowered"
    level = "npu"
    cacheable = False  # the FVP binary is not hashed into cache keys: it runs every time
    cross_check = "tosa_ref"  # integer on both sides: within one output step of it

    backends = ("ethos_u",)
    off_backend = "the Corstone FVP runs Ethos-U programs only"

    def needs(self, target) -> Availability:  # noqa: ANN001
        board, _ = board_for(target.ethos_u_config)
        if find_fvp(board) is None:
            return Availability(False, f"{board.binary} not on PATH or --fvp-path: {GET_FVP}")
        if find_runner(board) is None:
            return Availability(
                False, f"no arm_executor_runner ELF for {board.name}: {GET_RUNNER.format(config=target.ethos_u_config)}"
            )
        return Availability(True)

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        board, macs = board_for(lowered.target.ethos_u_config)
        fvp, elf = find_fvp(board), find_runner(board)
        folder = lowered.pte_path.parent / "fvp"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "program.pte").write_bytes(lowered.pte)
        names = files.write_inputs(folder, inputs)
        cmd_line = " ".join(["executor_runner -m program.pte -o out", *(f"-i {n}" for n in names)])
        if len(cmd_line) > MAX_COMMAND_LINE:
            raise StageError(Stage.RUN, f"{len(inputs)} inputs make the semihosting command line longer than {MAX_COMMAND_LINE}")
        timelimit = int(os.environ.get("ETCONFORM_FVP_TIMEOUT", "120"))
        args = command(board, macs, str(fvp), elf, folder, cmd_line, timelimit)
        (folder / "command.txt").write_text(" ".join(args) + "\n")
        try:
            done = subprocess.run(args, capture_output=True, timeout=timelimit + 30, cwd=folder)
        except subprocess.TimeoutExpired as exc:
            raise StageError(Stage.RUN, f"{board.binary} still running after {timelimit + 30} s: killed") from exc
        log = done.stdout.decode(errors="replace")
        (folder / "fvp.log").write_text(log + done.stderr.decode(errors="replace"))
        problems = [m.group(0).strip() for m in ERROR_LINE.finditer(log)]
        if problems:
            raise StageError(Stage.RUN, f"{board.binary}: {len(problems)} error lines: " + " | ".join(problems[:3]))
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise StageError(Stage.RUN, f"{board.binary} exited with {done.returncode}: {' '.join(tail)} (log: {folder}/fvp.log)")
        try:
            outputs = files.read_outputs(folder, lowered.output_specs)
        except (OSError, ValueError) as exc:
            raise StageError(Stage.RUN, f"{board.binary} ran but left no usable output: {exc}") from exc
        estimate = counters(log)
        notes = [] if "npu_cycles" in estimate else ["the runner printed no Ethos-U PMU counters"]
        return ExecResult(outputs[0] if len(outputs) == 1 else tuple(outputs), {}, estimate, notes)
