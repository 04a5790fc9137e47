"""The TOSA reference model as an executor.

The lowered program runs on the host; each delegate call runs the very TOSA graph
that was lowered (for Ethos-U: the graph Vela compiled) on the TOSA reference model,
in a child process so that a native abort fails the case, not the session. The
non-delegated part runs as it is, in the edge dialect.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from etconform.lowering.vela import digest
from etconform.stages import Stage, StageError, stage
from executors.base import Availability, ExecResult, Executor, importable

NHWC_ORDER = (0, 2, 3, 1)
NNHWC_ORDER = (0, 1, 3, 4, 2)
TIMEOUT_S = 300
WORKER = Path(__file__).resolve().with_name("tosa_worker.py")
# The reference model is deterministic: tosa_ref and stream run the same graph on the same inputs
# for each Ethos-U delegate call, so the second asks this memo (a few recent runs, copied out).
_RECENT: dict[str, list[np.ndarray]] = {}
_RECENT_MAX = 16


def _run_key(tosa: bytes, inputs: list[np.ndarray], kwargs: dict[str, Any]) -> str:
    h = hashlib.sha256(tosa)
    h.update(json.dumps(kwargs, sort_keys=True).encode())
    for a in inputs:
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def run_tosa(tosa: bytes, inputs: list[np.ndarray], timeout: float = TIMEOUT_S, **kwargs: Any) -> list[np.ndarray]:
    """Run one TOSA graph in a child process; a crash or invalid graph raises StageError(RUN)."""
    kwargs.setdefault("initialize_variable_tensor_from_numpy", True)
    key = _run_key(tosa, inputs, kwargs)
    if key not in _RECENT:
        outputs = _run_tosa_child(tosa, inputs, timeout, kwargs)
        _RECENT[key] = outputs
        while len(_RECENT) > _RECENT_MAX:
            _RECENT.pop(next(iter(_RECENT)))
    return [a.copy() for a in _RECENT[key]]


def _run_tosa_child(tosa: bytes, inputs: list[np.ndarray], timeout: float, kwargs: dict[str, Any]) -> list[np.ndarray]:
    with tempfile.TemporaryDirectory(prefix="etconform-tosa-") as tmp:
        in_path, out_path = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(
            in_path,
            tosa=np.frombuffer(tosa, dtype=np.uint8),
            kwargs=json.dumps(kwargs),
            n_inputs=len(inputs),
            **{f"input_{i}": a for i, a in enumerate(inputs)},
        )
        try:
            # Run as a plain script: importing the executors package would pull in torch.
            proc = subprocess.run(
                [sys.executable, str(WORKER), str(in_path), str(out_path)],
                capture_output=True, text=True, timeout=timeout, cwd=tmp,
            )
        except subprocess.TimeoutExpired as exc:
            raise StageError(Stage.RUN, f"TOSA reference model did not finish in {timeout:g} s") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
            how = (
                f"crashed with {signal.Signals(-proc.returncode).name}"
                if proc.returncode < 0
                else f"exited with status {proc.returncode}"
            )
            # The error is the last line; the lines before it say where.
            last = tail[-1][:300] if tail else "no output"
            raise StageError(Stage.RUN, f"TOSA reference model {how}: {last} (stderr ends: {' | '.join(tail[:-1])[-300:]})",
                             proc.stderr[-4000:])
        with np.load(out_path, allow_pickle=False) as data:
            status = str(data["status"])
            if status != "TOSA_VALID":
                raise StageError(Stage.RUN, f"TOSA reference model returned {status}: the graph is not valid TOSA")
            return [data[f"output_{i}"] for i in range(int(data["n_outputs"]))]


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    order = tensor.dim_order()
    if order in (NHWC_ORDER, NNHWC_ORDER):
        tensor = tensor.permute(order)
    return tensor.detach().contiguous().numpy()


def _to_torch(array: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    order = like.dim_order()
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(like.dtype)
    if order in (NHWC_ORDER, NNHWC_ORDER):
        tensor = tensor.reshape([like.shape[i] for i in order])
        inverse = tuple(order.index(i) for i in range(len(order)))
        return tensor.permute(inverse).contiguous()
    return tensor.reshape(like.shape)


def delegate_fakes(module: Any) -> list[Any]:
    """The tensors (fake: shape, dtype, dim order) a delegate's graph returns."""
    return [n.meta["val"] for n in module.original_module.graph.output_node().args[0]]


def delegate_outputs(module: Any, arrays: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
    """A delegate call's integer outputs as the tensors its graph returns (shape, dtype, dim order).
    Nothing is dropped, reshaped or cast silently: another count, another number of elements or a
    cast that changes a value fails the run."""
    fakes = delegate_fakes(module)
    if len(arrays) != len(fakes):
        raise StageError(Stage.RUN, f"the delegate returned {len(arrays)} outputs, its graph declares {len(fakes)}")
    found = []
    for i, (array, fake) in enumerate(zip(arrays, fakes)):
        if array.size != fake.numel():
            raise StageError(Stage.RUN, f"delegate output {i} has {array.size} elements, its graph declares "
                                        f"{fake.dtype} {list(fake.shape)}")
        flat = torch.from_numpy(np.ascontiguousarray(array).reshape(-1))
        if not np.array_equal(flat.numpy(), flat.to(fake.dtype).to(flat.dtype).numpy(), equal_nan=array.dtype.kind == "f"):
            raise StageError(Stage.RUN, f"delegate output {i} is {array.dtype}, its graph declares {fake.dtype}: "
                                        f"the cast changes values")
        found.append(_to_torch(array, fake))
    return tuple(found)


class DelegateCalls(TorchFunctionMode):
    """Answers every executorch_call_delegate of an edge program with `call(module, arrays)`."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def call(self, module: Any, inputs: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if func is not torch._higher_order_ops.executorch_call_delegate:
            return func(*args, **(kwargs or {}))
        module, *tensors = args
        self.calls += 1
        return self.call(module, [_to_numpy(t) for t in tensors])


def run_edge(lowered: Any, inputs: tuple[torch.Tensor, ...], mode: DelegateCalls) -> Any:
    """The lowered edge program's outputs on `inputs`, its delegate calls answered by `mode`."""
    with stage(Stage.RUN):
        program = lowered.edge_program.module()
        with mode, torch.no_grad():
            return program(*inputs)


class _DelegatesOnTosa(DelegateCalls):
    """Runs every delegate call on the TOSA reference model; `seen`, when given, keeps each call's arrays."""

    def __init__(self, tosa_by_output: dict[str, bytes], seen: list | None = None):
        super().__init__()
        self.tosa_by_output = tosa_by_output  # keyed by the digest of the delegate's processed bytes
        self.seen = seen

    def call(self, module: Any, inputs: list[np.ndarray]) -> tuple[torch.Tensor, ...]:
        tosa = self.tosa_by_output.get(digest(module.processed_bytes))
        if tosa is None:
            raise StageError(Stage.RUN, f"delegate {module.backend_id} has no TOSA graph to run")
        outputs = run_tosa(tosa, inputs)
        if self.seen is not None:
            self.seen.append((inputs, outputs))
        return delegate_outputs(module, outputs)


def delegate_calls(lowered: Any, inputs: tuple[torch.Tensor, ...]) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """Each delegate call's TOSA inputs and outputs when `lowered` runs on the reference model (tools and tests)."""
    seen: list = []
    run_edge(lowered, inputs, _DelegatesOnTosa({d.digest: d.tosa for d in lowered.delegates if d.tosa}, seen))
    return seen


class TosaReferenceModel(Executor):
    name = "tosa_ref"
    role = "lowered"
    level = "tosa"
    needs_graph = True

    backends = ("tosa", "ethos_u")
    off_backend = "only TOSA and Ethos-U programs have TOSA graphs"

    def needs(self, target) -> Availability:  # noqa: ANN001
        return importable("tosa_reference_model", install="pip install 'executorch[ethos-u]' (tosa-tools)")

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        mode = _DelegatesOnTosa({d.digest: d.tosa for d in lowered.delegates if d.tosa})
        outputs = run_edge(lowered, inputs, mode)
        notes = [] if mode.calls else ["no delegate: the whole program ran on the host CPU"]
        return ExecResult(outputs, {}, notes=notes)
