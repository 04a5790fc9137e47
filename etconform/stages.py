"""Named stages of a case, and errors attributed to them."""

from __future__ import annotations

import contextlib
import enum
import traceback
from collections.abc import Iterator


class Stage(enum.StrEnum):
    CASE = "case"  # eager PyTorch itself failed: the suite's bug, not the backend's
    EXPORT = "export"
    QUANTIZE = "quantize"
    LOWER = "lower"
    VELA = "vela"
    SERIALIZE = "serialize"
    LOAD = "load"
    RUN = "run"
    COMPARE = "compare"


class StageError(Exception):
    """A stage raised; carries the stage and a one-line reason."""

    def __init__(self, stage: Stage, message: str, detail: str = ""):
        super().__init__(f"[{stage.value}] {message}")
        self.stage = stage
        self.message = message
        self.detail = detail  # traceback tail, for the record and the report


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


def _one_line(exc: BaseException) -> str:
    root = _root(exc)
    lines = [line.strip() for line in (str(root).strip() or type(root).__name__).splitlines() if line.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1 and lines[-1] != text:
        text = f"{text[:300]} ... {lines[-1]}"  # many ExecuTorch errors put the useful part last
    return f"{type(root).__name__}: {text}"[:1000]


@contextlib.contextmanager
def stage(name: Stage) -> Iterator[None]:
    """Attribute any exception raised inside to `name` (or to Vela when it raised)."""
    try:
        yield
    except StageError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - Vela's argument parser exits
        actual = Stage.VELA if name is Stage.LOWER and _raised_in_vela(exc) else name
        detail = "".join(traceback.format_exception(exc)[-12:])
        raise StageError(actual, _one_line(exc), detail) from exc
