"""Programs, inputs and outputs as files: what an off-host target (FVP, board) reads and writes.

The format is ExecuTorch's arm test runner's: each input is its tensor's raw bytes
(i0.bin, i1.bin, ...), each output out-0.bin, out-1.bin, ..., whose dtype and shape
come from the lowered program's output nodes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

SAVED_OUTPUTS_LIMIT = 4 << 20  # bytes per executor and sample kept as artifacts


def raw(tensor: torch.Tensor) -> bytes:
    t = tensor.detach().contiguous().cpu()
    return t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def write_inputs(folder: Path, inputs: tuple[torch.Tensor, ...]) -> list[str]:
    """i0.bin, i1.bin, ...: short names, since the FVP truncates a long semihosting command line."""
    names = []
    for k, x in enumerate(inputs):
        names.append(f"i{k}.bin")
        (folder / names[-1]).write_bytes(raw(x))
    return names


def input_digest(inputs: tuple[torch.Tensor, ...]) -> str:
    h = hashlib.sha256()
    for x in inputs:
        h.update(raw(x))
    return h.hexdigest()[:16]


def decode(data: bytes, dtype: torch.dtype, shape: tuple[int, ...], what: str) -> torch.Tensor:
    want = torch.Size(shape).numel() * torch.empty((), dtype=dtype).element_size()
    if len(data) != want:
        raise ValueError(f"{what} has {len(data)} bytes, expected {want} for {dtype} {list(shape)}")
    if not data:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(data), dtype=dtype).reshape(shape).clone()


def read_outputs(folder: Path, specs: list[tuple[torch.dtype, tuple[int, ...]]], base: str = "out") -> list[torch.Tensor]:
    """The outputs a runner wrote into a folder made for its run: one file per output, no more."""
    extra = sorted(p.name for p in folder.glob(f"{base}-*.bin") if p.stem.removeprefix(f"{base}-").isdigit()
                   and int(p.stem.removeprefix(f"{base}-")) >= len(specs))
    if extra:
        raise ValueError(f"{len(specs)} outputs expected, but the runner also wrote {', '.join(extra)}")
    outputs = []
    for i, (dtype, shape) in enumerate(specs):
        path = folder / f"{base}-{i}.bin"
        if not path.exists():
            raise FileNotFoundError(f"no output file {path.name} in {folder}")
        outputs.append(decode(path.read_bytes(), dtype, shape, path.name))
    return outputs


def save_outputs(folder: Path, inputs: tuple[torch.Tensor, ...], outputs: list[torch.Tensor]) -> None:
    """An executor's outputs for one sample as artifacts, keyed by the inputs' digest (big ones skipped)."""
    if sum(t.numel() * t.element_size() for t in outputs) > SAVED_OUTPUTS_LIMIT:
        return
    where = folder / input_digest(inputs)
    where.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(outputs):
        (where / f"out-{i}.bin").write_bytes(raw(t))


def save_inputs(folder: Path, inputs: tuple[torch.Tensor, ...]) -> None:
    """A sample's inputs as artifacts: inputs.pt (torch.load gives the tuple) beside i0.bin, ... (big ones skipped)."""
    if sum(t.numel() * t.element_size() for t in inputs) > SAVED_OUTPUTS_LIMIT:
        return
    where = folder / input_digest(inputs)  # the same folder name as the outputs of this sample
    where.mkdir(parents=True, exist_ok=True)
    torch.save(tuple(inputs), where / "inputs.pt")
    write_inputs(where, inputs)
