"""A content-addressed cache of lowerings and of what executors made of them.

Key: the case as exported (graph, weights, samples, calibration), the target's spec, the
harness code that lowers and runs, and what can change a result around them (`machine`):
- the installed files of the system under test and of every distribution it requires
  (transitively): Python sources by content, native files by an identity a restored mtime
  cannot fake (size, mtime, ctime, inode: a rewrite sets ctime, whatever `cp -p` restores);
  ExecuTorch per part, so an edit under `executorch/backends/arm` changes the Arm keys only;
- where the system under test is imported from: a package found elsewhere than its
  installed files (an editable checkout, a folder earlier on sys.path) enters with that
  folder's files, and every `.pth` file of the site folders enters by content;
- the environment, all of it (LD_PRELOAD, LD_LIBRARY_PATH, PYTHONPATH, ...) but ENV_IGNORED;
- the CPU's instruction-set flags (XNNPACK picks its kernels by them). Value: the .pte and everything the runner needs from the
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
import sysconfig
import tempfile
from dataclasses import asdict, dataclass, field
from functools import cache as memo
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from etconform.lowering.pipeline import Delegate, Lowered
from etconform.lowering.scales import ScaleReport
from etconform.stages import Stage, StageError
from etconform.targets import Target

FORMAT = 3  # bump when the entry layout or the key changes
DEFAULT_DIR = Path.home() / ".cache" / "etconform" / "artifacts"
# Distributions whose installed files are the system under test.
UNDER_TEST = ("torch", "torchao", "executorch", "ethos-u-vela", "tosa-tools")
# ExecuTorch's backend folders a target's lowering uses; other backends' folders do not enter its key.
BACKEND_FOLDERS = {"xnnpack": {"xnnpack"}, "tosa": {"arm"}, "ethos_u": {"arm"}}
# Harness code that decides what is lowered and what executors return: these files and every
# module under _HARNESS_DIRS.
_HARNESS = ("etconform/targets.py", "etconform/execute.py")
_HARNESS_DIRS = ("etconform/lowering", "executors")
_ROOT = Path(__file__).resolve().parents[2]


# Environment variables that cannot change a result: the shell's and the terminal's bookkeeping,
# pytest's and xdist's own, and where the cache itself is.
ENV_IGNORED = frozenset({
    "PWD", "OLDPWD", "SHLVL", "_", "TERM", "COLORTERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION", "COLUMNS", "LINES",
    "LS_COLORS", "DISPLAY", "SSH_AUTH_SOCK", "SSH_CLIENT", "SSH_CONNECTION", "SSH_TTY", "TMUX", "TMUX_PANE",
    "XDG_SESSION_ID", "XDG_RUNTIME_DIR", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID", "ETCONFORM_CACHE_DIR",
})


def _digest_files(paths: list[Path], h: Any, root: Path | None = None) -> None:
    """Python sources by content; other files (native libraries, data) by size, mtime, ctime and inode:
    a rewritten file gets a new ctime whatever mtime it is given back.

    Names enter relative to `root`: a checkout elsewhere gives the same digest.
    """
    for p in sorted(paths):
        try:
            h.update(str(p.relative_to(root) if root is not None else p.name).encode())
            if p.suffix == ".py":
                h.update(p.read_bytes())
            else:
                st = p.stat()
                h.update(f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}".encode())
        except OSError:
            h.update(b"missing")


@memo
def _required(dists: tuple[str, ...]) -> tuple[str, ...]:
    """`dists` and every installed distribution they require, transitively (markers evaluated here)."""
    from packaging.requirements import Requirement

    found, todo = set(), list(dists)
    while todo:
        name = todo.pop()
        key = name.lower().replace("_", "-")
        if key in found:
            continue
        found.add(key)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return tuple(sorted(found))


def _top_level(d: metadata.Distribution) -> set[str]:
    """The packages (namespace packages too: `ethosu`) and modules the distribution installs at the top of site-packages."""
    names = {f.parts[0] if len(f.parts) > 1 else f.parts[0].removesuffix(".py") for f in d.files or []
             if len(f.parts) > 1 or f.suffix == ".py"}
    return {n for n in names if n.isidentifier() and not n.startswith("__")}


@memo
def imported_from(dist: str) -> str:
    """Digest of a distribution's import packages that are found outside its installed files
    (an editable checkout, a folder that shadows it on sys.path); "" when none is."""
    import importlib.util

    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return ""
    installed = Path(d.locate_file("")).resolve()
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()  # comes first on sys.path: a name it has is not the dist's
    h, elsewhere = hashlib.sha256(), False
    for name in sorted(_top_level(d)):
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        places = list(spec.submodule_search_locations or []) if spec else []
        if spec is not None and spec.origin and not places:
            places = [str(Path(spec.origin).parent)] if spec.has_location else []
        for place in places:
            folder = Path(place).resolve()
            # The stdlib comes first on sys.path, the checkout's own folders (`tests`) are the harness: neither is the dist's.
            if any(folder == p or p in folder.parents for p in (installed, stdlib, _ROOT)):
                continue
            elsewhere = True
            h.update(f"{name}@{folder}".encode())
            _digest_files([p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts], h, folder)
    return h.hexdigest() if elsewhere else ""


@memo
def _site_files() -> str:
    """Every .pth file of the site folders, by content (etconform's own editable hook aside: it names the checkout)."""
    import site

    h = hashlib.sha256()
    folders = [*site.getsitepackages(), site.getusersitepackages()]
    for folder in sorted(set(folders)):
        for p in sorted(Path(folder).glob("*.pth")):
            if p.name.startswith("__editable__.etconform-"):
                continue
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@memo
def _cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        import platform

        return platform.machine()
    flags = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    return " ".join(sorted(set(flags.partition(":")[2].split())))


def environment() -> str:
    """The environment as it can change a result: every variable but ENV_IGNORED, the checkout's own path
    written as <checkout> (a clone elsewhere keys alike)."""
    root = str(_ROOT)
    kept = sorted((k, v.replace(root, "<checkout>")) for k, v in os.environ.items() if k not in ENV_IGNORED)
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()


def machine() -> str:
    """What beyond the installed files can change a result: imports from elsewhere, .pth files, the environment, the CPU."""
    shadows = [f"{d}:{imported_from(d)}" for d in _required(UNDER_TEST) if imported_from(d)]
    return hashlib.sha256(json.dumps([shadows, _site_files(), environment(), _cpu_flags()]).encode()).hexdigest()


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
    for dist in _required(UNDER_TEST):
        for part, digest in sorted(_installed(dist).items()):
            if part not in foreign:
                h.update(f"{dist}/{part}:{digest}".encode())
    _digest_files([_ROOT / m for m in _HARNESS] + [f for d in _HARNESS_DIRS for f in sorted((_ROOT / d).rglob("*.py"))],
                  h, _ROOT)
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
    # What a plugin of the checkout's tests imports (a planted fault's library) patches as much as the plugin.
    tests = _ROOT / "tests"
    files |= {Path(m.__file__) for m in list(sys.modules.values())
              if getattr(m, "__file__", None) and Path(m.__file__).resolve().is_relative_to(tests)}
    h = hashlib.sha256()
    _digest_files(list(files), h)
    return h.hexdigest()


def case_key(exported_digest: str, target: Target, extra: str = "") -> str:
    """The key of one lowering: what was exported and on which inputs (etconform.lowering.shared.program_digest),
    for which target, by which code."""
    h = hashlib.sha256(under_test(target.backend).encode())
    h.update(machine().encode())
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
    def __init__(self, root: Path, audit: float = 0.0):
        self.root = Path(root)
        # The share of hits that are also lowered and run afresh and compared with what was kept (--cache-audit).
        self.audit = audit

    def audits(self, key: str) -> bool:
        """Whether this hit is audited: a share `audit` of keys, the same ones on every run and machine."""
        return int(key[:8], 16) < self.audit * 16**8

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
