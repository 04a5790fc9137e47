"""What a run was, recorded while it runs (run.json): when, the command and its selection,
the etconform commit, the machine, the stack under test. A report rebuilt elsewhere later
still describes the run, not the machine that rebuilt it.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from etconform.records import versions, write_atomic

RUN_FILE = "run.json"
ROOT = Path(__file__).resolve().parents[2]
# Options that narrow a run to part of what its paths collect.
_NARROWING = ("-k", "-m", "--deselect", "--lf", "--last-failed", "--splits", "--group", "--sw", "--stepwise")


def _commit() -> str:
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return head + (" + uncommitted changes" if dirty else "")


def _program() -> str:
    """'pytest', or 'python -m pytest' when run as a module."""
    argv0 = Path(sys.argv[0])
    return f"python -m {argv0.parent.name}" if argv0.name == "__main__.py" else argv0.name


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    memory_gib = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (OSError, ValueError):
        pass
    return {"host": socket.gethostname(), "cpu": cpu, "cores": os.cpu_count(), "memory_gib": memory_gib,
            "platform": platform.platform()}


def selection(args: list[str], paths: list[str]) -> dict[str, Any]:
    """The paths (pytest's positional arguments) and the options that narrow them; partial when any does."""
    picked = []
    for i, a in enumerate(args):
        if a in ("-k", "-m") and i + 1 < len(args):
            picked.append(f"{a} {shlex.quote(args[i + 1])}")
        elif a[:2] in ("-k", "-m") and len(a) > 2 and not a.startswith("--"):
            picked.append(f"{a[:2]} {shlex.quote(a[2:].lstrip('='))}")
        elif a.split("=")[0] in _NARROWING[2:] or "::" in a:
            picked.append(a)
    return {"paths": list(paths), "narrowed_by": picked, "partial": bool(picked)}


def start(args: list[str], paths: list[str], workers: int) -> dict[str, Any]:
    """Never raises: a run goes on with what could be found out."""
    info: dict[str, Any] = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "started_epoch": time.time()}
    try:
        info.update({
            "command": f"{_program()} {shlex.join(args)}", "cwd": os.getcwd(),
            "selection": selection(args, paths), "workers": workers, "etconform_commit": _commit(),
            "machine": machine(), "versions": versions(),
            "configured": {name: bool(os.environ.get(env)) for name, env in
                           (("fvp", "ETCONFORM_FVP_PATH"), ("device", "ETCONFORM_DEVICE"), ("devices", "ETCONFORM_DEVICES"))},
        })
    except Exception as exc:  # noqa: BLE001 - run.json is a description, not a reason to stop a run
        info["error"] = f"{type(exc).__name__}: {exc}"
    return info


def finish(results_dir: Path, info: dict[str, Any], exit_status: int, tests: int) -> None:
    info = {**info, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": round(time.time() - info["started_epoch"], 1), "exit_status": exit_status, "tests": tests}
    write(results_dir, [info])


def write(results_dir: Path, runs: list[dict[str, Any]]) -> None:
    write_atomic(results_dir / RUN_FILE, json.dumps({"runs": runs}, indent=1, sort_keys=True, default=str))


def read(results_dir: Path) -> list[dict[str, Any]]:
    """The runs behind a results folder (several after `etconform merge`); [] when none recorded."""
    try:
        return list(json.loads((results_dir / RUN_FILE).read_text()).get("runs") or [])
    except (OSError, ValueError, AttributeError):
        return []
