"""A Linux board over SSH: the program and inputs go over, outputs and timings come back.

    --device ssh://user@host[:port][?python=/path/to/python&identity=KEY&known_hosts=FILE&folder=DIR]
    --devices devices.toml      several devices, each serving some targets (README)

Each run is one `ssh` call with a fixed remote command (the agent in device_agent.py,
passed as `python -c`); case ids, paths and data travel on its stdin, never through the
remote shell. Host keys are checked (StrictHostKeyChecking=yes, BatchMode=yes): an
unknown host is refused with the command to add it. The device runs the program with
the ExecuTorch Python runtime, or with a runner command the device's entry gives (a
board with an Ethos-U driver). Each pytest worker has its own folder on the device,
<folder>/<worker> (folder: ~/.cache/etconform unless the URL or entry gives one).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from etconform.stages import Stage, StageError
from etconform.targets import TARGETS
from executors import files
from executors.base import Availability, ExecResult, Executor

AGENT = (Path(__file__).parent / "device_agent.py").read_text()
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # users and hosts: nothing ssh could read as an option
_XNNPACK = tuple(name for name, t in TARGETS.items() if t.backend == "xnnpack")
HOW = "pass --device ssh://USER@HOST[:PORT] or --devices FILE (or set ETCONFORM_DEVICE / ETCONFORM_DEVICES)"


@dataclass(frozen=True)
class Device:
    name: str
    user: str
    host: str
    port: int = 22
    python: str = "python3"  # on the device; needs executorch unless a runner is given
    identity: str = ""
    known_hosts: str = ""  # default: ssh's own
    folder: str = "~/.cache/etconform"  # on the device; each worker gets a subfolder
    runner: tuple[str, ...] = ()  # argv; {program} {inputs} {outputs} {folder} are filled in
    targets: tuple[str, ...] = _XNNPACK
    timeout: float = 300.0  # one run, copying included
    connect_timeout: int = 10

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@{self.host}:{self.port}"

    def ssh(self) -> list[str]:
        args = ["ssh", "-p", str(self.port), "-l", self.user, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"ConnectTimeout={self.connect_timeout}", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if self.identity:
            args += ["-i", os.path.expanduser(self.identity), "-o", "IdentitiesOnly=yes"]
        if self.known_hosts:
            args += ["-o", f"UserKnownHostsFile={os.path.expanduser(self.known_hosts)}"]
        return [*args, "--", self.host, f"{shlex.quote(self.python)} -c {shlex.quote(AGENT)}"]


def _check(device: Device) -> Device:
    for what in (device.user, device.host):
        if not _NAME.match(what) or what.startswith("-"):
            raise ValueError(f"device {device.name}: {what!r} is not a plain user or host name")
    return device


def parse_url(url: str, name: str = "device", **extra) -> Device:  # noqa: ANN003
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.username or not parts.hostname:
        raise ValueError(f"{url!r}: expected ssh://user@host[:port]")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    unknown = set(query) - {"python", "identity", "known_hosts", "folder"}
    if unknown:
        raise ValueError(f"{url!r}: unknown parameters {sorted(unknown)} (python, identity, known_hosts, folder)")
    return _check(Device(name, parts.username, parts.hostname, parts.port or 22, **query, **extra))


def load_devices(path: Path) -> list[Device]:
    """[devices.NAME] url = "ssh://...", python, identity, known_hosts, runner = [...], targets = [...], timeout."""
    try:
        table = tomllib.loads(path.read_text()).get("devices", {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    devices = []
    for name, entry in table.items():
        entry = dict(entry)
        url = entry.pop("url", None)
        if url is None:
            raise ValueError(f"{path}: device {name} has no url")
        for key in ("runner", "targets"):
            if key in entry:
                entry[key] = tuple(entry[key])
        unknown = set(entry.get("targets", ())) - set(TARGETS)
        if unknown:
            raise ValueError(f"{path}: device {name} names unknown targets {sorted(unknown)}; known: {sorted(TARGETS)}")
        devices.append(parse_url(url, name, **entry))
    return devices


def configured() -> list[Device]:
    devices = []
    if os.environ.get("ETCONFORM_DEVICES"):
        devices += load_devices(Path(os.environ["ETCONFORM_DEVICES"]))
    if os.environ.get("ETCONFORM_DEVICE"):
        devices.append(parse_url(os.environ["ETCONFORM_DEVICE"]))
    return devices


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def call(device: Device, request: dict, blobs: list[tuple[str, bytes]], timeout: float) -> tuple[dict, list[tuple[str, bytes]]]:
    """One ssh round trip to the agent. Raises OSError with a message naming the device."""
    request = {**request, "files": [[n, len(b)] for n, b in blobs]}
    payload = (json.dumps(request) + "\n").encode() + b"".join(b for _, b in blobs)
    try:
        done = subprocess.run(device.ssh(), input=payload, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise OSError(f"{device.url}: no answer within {timeout:g} s") from exc
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode == 255:
        hint = ""
        if "Host key verification failed" in stderr or "No ED25519 host key" in stderr or "host key" in stderr.lower():
            hint = f" (check its fingerprint, then: ssh-keyscan -p {device.port} {device.host} >> ~/.ssh/known_hosts)"
        raise OSError(f"{device.url} unreachable: {stderr.splitlines()[-1] if stderr else 'ssh failed'}{hint}")
    head, _, rest = done.stdout.partition(b"\n")
    try:
        reply = json.loads(head)
    except json.JSONDecodeError as exc:
        tail = stderr.splitlines()[-3:]
        raise OSError(f"{device.url}: the agent did not answer (exit {done.returncode}): {' | '.join(tail)}") from exc
    out, offset = [], 0
    for name, size in reply.get("files", []):
        out.append((name, rest[offset:offset + size]))
        offset += size
    reply["stderr"] = stderr
    return reply, out


@dataclass
class _Probe:
    when: float
    availability: Availability
    info: dict = field(default_factory=dict)


class SSHDevice(Executor):
    name = "device"
    role = "lowered"
    level = "board"
    cacheable = False  # a board is part of the system under test that no file digest sees
    RECHECK_S = 30.0  # an unreachable device is tried again after this long, not on every case

    def __init__(self) -> None:
        self._probes: dict[Device, _Probe] = {}

    def device_for(self, target) -> Device | None:  # noqa: ANN001
        return next((d for d in configured() if target.name in d.targets), None)

    def probe(self, target) -> Availability:  # noqa: ANN001
        try:
            devices = configured()
        except (OSError, ValueError) as exc:
            return Availability(False, f"device configuration: {exc}")
        if not devices:
            return Availability(False, f"no device configured: {HOW}")
        device = self.device_for(target)
        if device is None:
            return Availability(False, f"no configured device serves {target.name} (a device's targets = [...])")
        cached = self._probes.get(device)
        if cached and (cached.availability.ok or time.monotonic() - cached.when < self.RECHECK_S):
            return cached.availability
        try:
            reply, _ = call(device, {"mode": "probe"}, [], device.connect_timeout + 20)
            info = reply.get("info", {})
            ok = bool(device.runner) or info.get("executorch") is not None
            why = "" if ok else f"{device.url}: {device.python} has no executorch (pip install executorch there, or give a runner)"
            availability = Availability(ok, why)
        except OSError as exc:
            availability, info = Availability(False, str(exc)), {}
        self._probes[device] = _Probe(time.monotonic(), availability, info)
        return availability

    def run(self, lowered, inputs, timing=(1, 5)) -> ExecResult:  # noqa: ANN001
        device = self.device_for(lowered.target)
        specs = lowered.output_specs
        blobs = [("program.pte", lowered.pte)] + [(f"i{k}.bin", files.raw(x)) for k, x in enumerate(inputs)]
        request = {
            "mode": "runner" if device.runner else "runtime",
            "worker": _worker(),
            "folder": device.folder,
            "inputs": [[f"i{k}.bin", str(x.dtype).removeprefix("torch."), list(x.shape)] for k, x in enumerate(inputs)],
            "outputs": len(specs),
            "timing": list(timing),
            "runner": list(device.runner),
            "timeout": device.timeout,
        }
        try:
            reply, blobs_back = call(device, request, blobs, device.timeout + device.connect_timeout + 10)
        except OSError as exc:
            self._probes.pop(device, None)
            raise StageError(Stage.RUN, str(exc)) from exc
        if not reply.get("ok"):
            stage = Stage.LOAD if "load" in reply.get("error", "").lower() else Stage.RUN
            log = [line for line in reply.get("stderr", "").splitlines()
                   if not re.match(r"W\d{4} ", line) and any(w in line for w in ("rror", "ailed", "Missing operator"))]
            raise StageError(stage, f"on {device.name} ({device.url}): {reply.get('error')}" + (f" | device log: {' | '.join(log[:3])}" if log else ""))
        try:
            outputs = [files.decode(data, dtype, shape, f"{device.name}:{name}") for (name, data), (dtype, shape) in zip(blobs_back, specs, strict=True)]
        except ValueError as exc:
            raise StageError(Stage.RUN, f"on {device.name}: {exc}") from exc
        info = self._probes.get(device, _Probe(0, Availability(True))).info
        note = (f"on {device.name} ({device.url}, {info.get('machine', '?')}, executorch {info.get('executorch', '?')}), "
                f"files in {reply.get('folder', '?')}")
        return ExecResult(outputs[0] if len(outputs) == 1 else tuple(outputs), reply.get("latency", {}), {}, [note])
