"""Work the targets of one case share inside one worker: the built case, its export, and
the digest of what was exported.

The plugin keeps a case's operator tests together (case-major order, and under -n on one
worker: etconform.plugin.grouping), so a case is built and exported once per worker instead of
once per target. Each use
gets its own deep copy of the exported program: lowering may rewrite it in place.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch

from etconform.cases import Built, Case, shapes_for

_KEEP = 2  # cases kept: a model's export can hold hundreds of MB of weights
OFF = "ETCONFORM_NO_SHARING"  # set (to anything): every target builds and exports anew (bench/reruns.py compares)


@dataclass
class _Shared:
    case: Case  # held, so that the id() in the key is not reused by another object while kept
    built: Built
    exported: tuple[torch.export.ExportedProgram, float] | None = None  # (program, seconds it took)
    export_failed: bool = False
    export_charged: bool = False  # whether a target's record already counts the export's seconds
    digest: str = ""  # of the exported graph, weights, samples and calibration


_memo: OrderedDict[tuple[int, int, str], _Shared] = OrderedDict()
counts = {"built": 0, "exported": 0, "reused": 0}  # read by the self-tests


def _entry(case: Case, base_seed: int) -> _Shared:
    # By identity: self-tests make cases with one id and different modules. The weights option changes the build.
    key = (id(case), base_seed, os.environ.get("ETCONFORM_WEIGHTS", ""))
    found = _memo.get(key)
    if found is not None:
        _memo.move_to_end(key)
        counts["reused"] += 1
        return found
    found = _Shared(case, case.build_all(base_seed))  # Unavailable propagates: nothing is kept
    counts["built"] += 1
    _memo[key] = found
    while len(_memo) > _KEEP:
        _memo.popitem(last=False)
    return found


def built(case: Case, base_seed: int) -> Built:
    """The built case; its inputs are copies, so that an op that writes into its input changes no other target's."""
    found = _entry(case, base_seed).built
    return dataclasses.replace(found, samples=copied(found.samples), calibration=copied(found.calibration))


def copied(value: Any) -> Any:
    """Tensors in `value` cloned."""
    return torch.utils._pytree.tree_map(lambda x: x.clone() if isinstance(x, torch.Tensor) else x, value)


def _export(case: Case, base_seed: int) -> _Shared:
    shared = _entry(case, base_seed)
    if shared.exported is None and not shared.export_failed:
        try:
            t0 = time.perf_counter()
            first = shared.built.samples[0]
            module = shared.built.module
            program = torch.export.export(module, first, dynamic_shapes=shapes_for(module, case.dynamic_shapes(first)))
            shared.exported = (program, round(time.perf_counter() - t0, 4))
            shared.digest = program_digest(program, shared.built.samples, shared.built.calibration)
            counts["exported"] += 1
        except Exception:  # noqa: BLE001 - the lowering exports again and fails at its stage
            shared.export_failed = True
    return shared


def export_digest(case: Case, base_seed: int) -> str | None:
    """The digest of the case's export (None if export raised)."""
    return _export(case, base_seed).digest or None


def exported(case: Case, base_seed: int) -> tuple[torch.export.ExportedProgram, float] | None:
    """A copy of the case's export and the seconds exporting cost this target (the export's
    own for the first, the copy's for the others); None if export raised."""
    shared = _export(case, base_seed)
    if shared.exported is None:
        return None
    program, seconds = shared.exported
    t0 = time.perf_counter()
    program = copy.deepcopy(program)
    if shared.export_charged:
        seconds = round(time.perf_counter() - t0, 4)
    shared.export_charged = True
    return program, seconds


def program_digest(program: torch.export.ExportedProgram, samples: list[Any], calibration: list[Any]) -> str:
    """What was exported and on which inputs: graph, weights, constants, samples, calibration."""
    # Without its comments: they name source files and lines (# File: /abs/path:LINE), not the program.
    code = program.graph_module.print_readable(print_output=False).splitlines()
    h = hashlib.sha256("\n".join(line for line in code if not line.lstrip().startswith("#")).encode())
    h.update(repr(sorted((str(k), str(v)) for k, v in program.range_constraints.items())).encode())  # dynamic dims
    for name, value in sorted({**program.state_dict, **program.constants}.items()):
        h.update(name.encode())
        _tensor_bytes(h, value)
    _tensor_bytes(h, samples)
    _tensor_bytes(h, calibration)
    return h.hexdigest()


def _tensor_bytes(h: Any, value: Any) -> None:
    for leaf in torch.utils._pytree.tree_leaves(value):
        if isinstance(leaf, torch.Tensor):
            t = leaf.detach().contiguous().cpu()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(leaf).encode())


def clear() -> None:
    _memo.clear()


def starting() -> None:
    """Called as a case starts on a target: with sharing off, it then builds and exports anew."""
    if os.environ.get(OFF):
        clear()
