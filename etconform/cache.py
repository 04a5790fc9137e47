"""A content-addressed cache of lowerings and of what executors made of them.

Key: the case as exported (graph, weights, samples, calibration), the target's spec, the
harness code that lowers and runs, and digests of the system under test's installed
files. ExecuTorch is hashed per part: an edit under `executorch/backends/arm` changes the
key of the Arm targets only. Value: the .pte and everything the runner needs from the
lowering, plus each cacheable executor's outputs. An entry is a folder written under a
temporary name and renamed into place (atomic, safe across xdist workers), with a
manifest of sha256 digests checked on every read: a corrupt or partial entry is removed
and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from functools import cache as memo
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from etconform.lowering import Delegate, Lowered
from etconform.scales import ScaleReport
from etconform.stages import Stage, StageError
from etconform.targets import Target

FORMAT = 2  # bump when the entry layout changes
DEFAULT_DIR = Path.home() / ".cache" / "etconform" / "artifacts"
# Distributions whose installed files are the system under test.
UNDER_TEST = ("torch", "torchao", "executorch", "ethos-u-vela", "tosa-tools")
# ExecuTorch's backend folders a target's lowering uses; other backends' folders do not enter its key.
BACKEND_FOLDERS = {"xnnpack": {"xnnpack"}, "tosa": {"arm"}, "ethos_u": {"arm"}}
# Harness modules whose code decides what is lowered and what executors return.
_HARNESS = ("etconform/lowering.py", "etconform/targets.py", "etconform/scales.py", "etconform/vela.py",
            "etconform/rejections.py", "etconform/runner.py", "etconform/cache.py", "etconform/shared.py")
_ROOT = Path(__file__).resolve().parent.parent


def _digest_files(paths: list[Path], h: Any, root: Path | None = None) -> None:
    """Python sources by content; other files (native libraries, data) by size and mtime.

    Names enter relative to `root`: a checkout or venv elsewhere gives the same digest.
    """
    for p in sorted(paths):
        try:
            h.update(str(p.relative_to(root) if root is not None else p.name).encode())
            if p.suffix == ".py":
                h.update(p.read_bytes())
            else:
                st = p.stat()
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(b"missing")


@memo
def _installed(dist: str) -> dict[str, str]:
    """Digest of a distribution's installed files, by part: "" for the whole, or an ExecuTorch backend folder."""
    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return {"": "absent"}
    parts: dict[str, list[Path]] = {}
    for f in d.files or []:
        bits = f.parts
        part = bits[2] if dist == "executorch" and len(bits) > 3 and bits[:2] == ("executorch", "backends") else ""
        parts.setdefault(part, []).append(Path(d.locate_file(f)))
    base = Path(d.locate_file(""))
    out = {}
    for part, paths in parts.items():
        h = hashlib.sha256(f"{dist}=={d.version}".encode())
        _digest_files(paths, h, base)
        out[part] = h.hexdigest()
    return out


@memo
def under_test(backend: str) -> str:
    """One digest of the installed system under test, as a target of `backend` uses it."""
    foreign = set().union(*BACKEND_FOLDERS.values()) - BACKEND_FOLDERS.get(backend, set())
    h = hashlib.sha256(f"format {FORMAT}".encode())
    for dist in UNDER_TEST:
        for part, digest in sorted(_installed(dist).items()):
            if part not in foreign:
                h.update(f"{dist}/{part}:{digest}".encode())
    _digest_files([_ROOT / m for m in _HARNESS] + sorted((_ROOT / "reference").rglob("*.py")), h, _ROOT)
    return h.hexdigest()


def in_process(modules: list[Any]) -> str:
    """Digest of code that could patch the system under test from inside this process.

    `modules`: the pytest plugins and conftests loaded; sitecustomize and usercustomize are added.
    A fault planted by monkeypatching from any of them changes every key.
    """
    files = set()
    own = _ROOT / "etconform"  # the harness's own plugin: what of it matters is in _HARNESS
    for m in modules:  # a module, or an instance of a class that some module defines
        where = getattr(m, "__file__", None) or getattr(sys.modules.get(type(m).__module__), "__file__", None)
        if where and not Path(where).resolve().is_relative_to(own):
            files.add(Path(where))
    for name in ("sitecustomize", "usercustomize"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            files.add(Path(module.__file__))
    h = hashlib.sha256()
    _digest_files(list(files), h)
    return h.hexdigest()


def case_key(exported_digest: str, target: Target, extra: str = "") -> str:
    """The key of one lowering: what was exported and on which inputs (etconform.shared.program_digest),
    for which target, by which code."""
    h = hashlib.sha256(under_test(target.backend).encode())
    h.update(exported_digest.encode())
    h.update(repr((target.name, target.backend, target.quantized, target.executors, target.ethos_u_config)).encode())
    h.update(inspect.getsource(target.make).encode())
    for cell in target.make.__closure__ or ():
        h.update(repr(cell.cell_contents).encode())
    h.update(extra.encode())
    return h.hexdigest()


@dataclass
class Entry:
    """What one lowering left: the lowering's fields (or its error) and executors' results."""
    key: str
    lowering: dict[str, Any] = field(default_factory=dict)  # Lowered's plain fields; {} if it raised
    error: dict[str, Any] = field(default_factory=dict)  # {"stage", "message", "detail"} when lowering raised
    pte: bytes = b""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # executor -> {"outputs": [...], latency, ...}
    note: str = ""  # how it was found: "hit", "miss", "rebuilt: why"
    served: set[str] = field(default_factory=set)  # executors whose results this run took from the entry
    dirty: bool = False  # changed in this run: to be stored

    def restore(self, target: Target, workdir: Path) -> Lowered:
        """The cached lowering, its .pte written back to workdir; no edge program or quantized module."""
        low = self.lowering
        workdir.mkdir(parents=True, exist_ok=True)
        pte_path = workdir / "program.pte"
        pte_path.write_bytes(self.pte)
        return Lowered(
            target=target, quantized_module=None, edge_program=None, pte=self.pte, pte_path=pte_path,
            output_qparams=[tuple(q) if q else None for q in low["output_qparams"]],
            input_qparams=[tuple(q) if q else None for q in low["input_qparams"]],
            delegates=[Delegate(**d) for d in low["delegates"]], delegation=low["delegation"],
            seconds=low["seconds"], scales=ScaleReport(**low["scales"]) if low["scales"] is not None else None,
            quantized_inside=low["quantized_inside"], weight_bits=low.get("weight_bits"),
            output_specs=[(getattr(torch, dt.removeprefix("torch.")), tuple(s)) for dt, s in low["output_specs"]],
            from_cache=True,
        )

    def keep(self, lowered: Lowered) -> None:
        self.pte = lowered.pte
        self.lowering = {
            "output_qparams": lowered.output_qparams, "input_qparams": lowered.input_qparams,
            "delegates": [asdict(d) for d in lowered.delegates], "delegation": lowered.delegation,
            "seconds": lowered.seconds, "scales": asdict(lowered.scales) if lowered.scales is not None else None,
            "quantized_inside": lowered.quantized_inside, "weight_bits": lowered.weight_bits,
            "output_specs": [(str(dt), list(s)) for dt, s in lowered.output_specs],
        }


class ArtifactCache:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _folder(self, key: str) -> Path:
        return self.root / key[:2] / key

    def load(self, key: str) -> Entry:
        """The entry for key; a fresh empty one on a miss or when the stored one fails its digests."""
        folder = self._folder(key)
        if not folder.exists():
            return Entry(key, note="miss")
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            blobs = {}
            for name, want in manifest["files"].items():
                data = (folder / name).read_bytes()
                if hashlib.sha256(data).hexdigest() != want:
                    raise ValueError(f"{name} does not match its digest")
                blobs[name] = data
            payload = torch.load(io.BytesIO(blobs["entry.pt"]), weights_only=True)
            if payload.get("format") != FORMAT or payload.get("key") != key:
                raise ValueError("written by another cache format")
        except (OSError, ValueError, KeyError, RuntimeError, EOFError, json.JSONDecodeError) as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return Entry(key, note=f"rebuilt: the cached entry was unreadable ({type(exc).__name__}: {exc})"[:300])
        return Entry(key, payload["lowering"], payload["error"], blobs.get("program.pte", b""), payload["results"], "hit")

    def store(self, entry: Entry) -> None:
        """Write entry atomically; an entry another worker wrote meanwhile is replaced by this fuller one."""
        folder = self._folder(entry.key)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{entry.key[:12]}-", dir=folder.parent))
        try:
            buffer = io.BytesIO()
            torch.save({"format": FORMAT, "key": entry.key, "lowering": entry.lowering, "error": entry.error,
                        "results": entry.results}, buffer)
            blobs = {"entry.pt": buffer.getvalue(), "program.pte": entry.pte}
            for name, data in blobs.items():
                (tmp / name).write_bytes(data)
            manifest = {"files": {n: hashlib.sha256(d).hexdigest() for n, d in blobs.items()}}
            (tmp / "manifest.json").write_text(json.dumps(manifest))
            old = None
            if folder.exists():
                old = folder.with_name(f".{entry.key[:12]}-old-{os.getpid()}")
                os.replace(folder, old)
            os.replace(tmp, folder)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # a cache that cannot be written only costs time

    def stats(self) -> dict[str, Any]:
        entries = [p for p in self.root.glob("??/*") if p.is_dir() and not p.name.startswith(".")]
        size = sum(f.stat().st_size for p in entries for f in p.iterdir() if f.is_file())
        return {"root": str(self.root), "entries": len(entries), "bytes": size}

    def clear(self) -> int:
        n = self.stats()["entries"]
        shutil.rmtree(self.root, ignore_errors=True)
        return n


def error_of(entry: Entry) -> StageError | None:
    """The lowering's cached StageError, if it raised."""
    if not entry.error:
        return None
    return StageError(Stage(entry.error["stage"]), entry.error["message"], entry.error.get("detail", ""))
