"""Named stages of a case, and errors attributed to them."""

from __future__ import annotations

import contextlib
import enum
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path


class Stage(enum.StrEnum):
    CASE = "case"  # eager PyTorch itself failed: the suite's bug, not the backend's
    EXPORT = "export"
    QUANTIZE = "quantize"
    PARTITION = "partition"  # the delegation contract (etconform.judging.policy.delegation_findings)
    LOWER = "lower"
    VELA = "vela"
    SERIALIZE = "serialize"
    LOAD = "load"
    RUN = "run"
    COMPARE = "compare"


# Stages that fail before any executor runs: a known failure of one covers every executor.
BEFORE_EXECUTION = (Stage.CASE, Stage.EXPORT, Stage.QUANTIZE, Stage.PARTITION, Stage.LOWER, Stage.VELA, Stage.SERIALIZE)


class StageError(Exception):
    """A stage raised; carries the stage and a one-line reason."""

    def __init__(self, stage: Stage, message: str, detail: str = ""):
        super().__init__(f"[{stage.value}] {message}")
        self.stage = stage
        self.message = message
        self.detail = detail  # traceback tail, for the record and the report


# Seconds a stage may take before it fails (the whole test has pytest-timeout's 5400 s).
# OPT-125M's Arm lowering took 1863 s (U55) and 2123 s (tosa_int) under -n 2 here
# (2026-11-30): lower gets 3600 s. ETCONFORM_STAGE_TIMEOUT="lower=600,export=60"
# (or --stage-timeout) overrides. Stages that run native code (load, run) have their own limits.
STAGE_TIMEOUTS = {"export": 600.0, "quantize": 900.0, "lower": 3600.0, "serialize": 600.0}


def parse_timeouts(text: str) -> dict[str, float]:
    """'lower=600,export=60' -> {"lower": 600.0, "export": 60.0}; ValueError naming what is wrong."""
    found = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = item.partition("=")
        if name not in STAGE_TIMEOUTS:
            raise ValueError(f"{item!r}: no stage {name!r} with a timeout; stages: {', '.join(STAGE_TIMEOUTS)}")
        try:
            found[name] = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: expected {name}=SECONDS") from None
        if not found[name] > 0:
            raise ValueError(f"{item!r}: seconds must be positive")
    return found


_allowed: dict[str, float] = {}  # the running case's own limits (Case.allowance)


def timeouts() -> dict[str, float]:
    """The defaults, raised where the running case allows more, and what the user set above both."""
    return {**STAGE_TIMEOUTS, **_allowed, **parse_timeouts(os.environ.get("ETCONFORM_STAGE_TIMEOUT", ""))}


@contextlib.contextmanager
def allowing(limits: dict[str, float]) -> Iterator[None]:
    """Stage limits for the block: a heavy case's measured lowering time, with a margin."""
    saved = dict(_allowed)
    _allowed.update(limits)
    try:
        yield
    finally:
        _allowed.clear()
        _allowed.update(saved)


class StageTimeout(BaseException):
    """Raised by the alarm inside a stage; a BaseException so that no `except Exception` in the
    system under test swallows it."""


@contextlib.contextmanager
def _deadline(name: str, seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds`, keeping any alarm already set (pytest-timeout's)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    t0, cpu0 = time.monotonic(), time.process_time()
    outer_handler = signal.getsignal(signal.SIGALRM)
    outer_delay, outer_interval = signal.getitimer(signal.ITIMER_REAL)

    def expire(signum, frame):  # noqa: ANN001, ANN202
        if outer_delay and time.monotonic() - t0 >= outer_delay - 1e-3 and callable(outer_handler):
            return outer_handler(signum, frame)  # the outer alarm was due first
        where = _running_pass(frame)
        # How far a stage gets in its time depends on the cores it had: a busy machine gives it less.
        cpu = time.process_time() - cpu0
        raise StageTimeout(f"{name} still running after {seconds:g} s ({cpu:.{0 if cpu >= 10 else 2}f} s of CPU):"
                           f" stopped{f' in {where}' if where else ''} (ETCONFORM_STAGE_TIMEOUT={name}=SECONDS to change)")

    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer_delay) if outer_delay else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, outer_handler)
        if outer_delay:
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - t0), 1e-3), outer_interval)


def _running_pass(frame) -> str:  # noqa: ANN001
    """The innermost graph pass the interrupted code was in: a lowering that runs out of time is
    usually one pass repeating, and its name says which."""
    base = sys.modules.get("torch.fx.passes.infra.pass_base")
    while base is not None and frame is not None:
        owner = frame.f_locals.get("self")
        if isinstance(owner, base.PassBase):
            return type(owner).__name__
        frame = frame.f_back
    return ""


# Vela runs inside ExecuTorch's lowering; a failure raised from its frames is Vela's.
_VELA_MODULES = ("ethosu/vela", "arm_vela.py")


def _raised_in_vela(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return any(any(m in f.filename for m in _VELA_MODULES) for f in frames)


def _root(exc: BaseException) -> BaseException:
    """The innermost cause: wrappers ("error in pass X after passes [...]") hide the reason."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def detail_of(exc: BaseException) -> str:
    """The traceback's tail, for the record and the report."""
    return "".join(traceback.format_exception(exc)[-12:])


def one_line(exc: BaseException) -> str:
    root = _root(exc)
    lines = [line.strip() for line in (str(root).strip() or type(root).__name__).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1 and lines[-1] != text:
        text = f"{text[:300]} ... {lines[-1]}"  # many ExecuTorch errors put the useful part last
    return f"{type(root).__name__}: {text}"[:1000]


_crumb: list = [None, ""]  # [file, test id]: where the stage being entered is written


def follow(path: Path | None, test_id: str = "") -> None:
    """Write each stage entered to `path`: a native crash kills the process before any record is
    written, and the controller reads the file to say at which stage it died."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    _crumb[:] = [path, test_id]


def enter(name: str) -> None:
    if _crumb[0] is not None:
        with contextlib.suppress(OSError):
            _crumb[0].write_text(f"{_crumb[1]}\t{name}\n")


def last_entered(path: Path, test_id: str) -> str | None:
    """The stage `test_id` last entered, as written by `follow`; None if the file is about another test."""
    try:
        written, name = path.read_text().rstrip("\n").split("\t")
    except (OSError, ValueError):
        return None
    return name if written == test_id else None


@contextlib.contextmanager
def stage(name: Stage) -> Iterator[None]:
    """Attribute any exception raised inside to `name` (or to Vela when it raised); stop the
    block when it runs past its stage's timeout."""
    limit = timeouts().get(name.value)
    enter(name.value)
    try:
        with _deadline(name.value, limit) if limit else contextlib.nullcontext():
            yield
    except StageError:
        raise
    except (Exception, SystemExit, StageTimeout) as exc:  # noqa: BLE001 - Vela's argument parser exits
        actual = Stage.VELA if name is Stage.LOWER and _raised_in_vela(exc) else name
        detail = detail_of(exc)
        # A timeout's own words: the exception it interrupted is not the cause.
        message = f"StageTimeout: {exc}" if isinstance(exc, StageTimeout) else one_line(exc)
        raise StageError(actual, message, detail) from exc
