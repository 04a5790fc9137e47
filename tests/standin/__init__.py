"""Stand-ins for what cannot exist on this machine (see fvp_standin.py)."""

from __future__ import annotations

from pathlib import Path

from executors.fvp import BOARDS

HERE = Path(__file__).parent
FAKE_ELF = b"\x7fELF etconform stand-in for arm_executor_runner\n"


def install_fvp(folder: Path) -> tuple[Path, Path]:
    """FVP binaries (links to the stand-in) in folder/bin, runner 'ELFs' in folder/arm_test.

    Returns (bin folder for --fvp-path, arm_test folder for --arm-runner).
    """
    bin_dir, arm_test = folder / "bin", folder / "arm_test"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for board in BOARDS.values():
        link = bin_dir / board.binary
        if not link.exists():
            link.symlink_to(HERE / "fvp_standin.py")
        elf = arm_test / f"arm_semihosting_executor_runner_{board.name}" / "arm_executor_runner"
        elf.parent.mkdir(parents=True, exist_ok=True)
        elf.write_bytes(FAKE_ELF)
    return bin_dir, arm_test
