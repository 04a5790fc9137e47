"""Runs on the device (sent over SSH as `python -c`): standard library only until it needs executorch.

Protocol, both ways: one JSON line, then the raw bytes its "files" entries announce, in order.
Request: {"mode": "probe"|"runtime"|"runner", "worker", "folder", "files": [[name, size]...],
          "inputs": [[name, dtype, shape]...], "outputs": n, "timing": [warmup, runs],
          "runner": [argv with {program} {inputs} {folder} {outputs}], "timeout": s}
Reply: {"ok", "error", "latency", "info", "log", "files": [[name, size]...]} and the output bytes.
"""

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def reply(header, blobs=()):
    header["files"] = [[name, len(data)] for name, data in blobs]
    out = sys.stdout.buffer
    out.write((json.dumps(header) + "\n").encode())
    for _, data in blobs:
        out.write(data)
    out.flush()


def receive():
    source = sys.stdin.buffer
    request = json.loads(source.readline())
    blobs = [(name, source.read(size)) for name, size in request.get("files", [])]
    return request, blobs


def info():
    found = {"machine": platform.machine(), "system": platform.system(), "python": platform.python_version()}
    try:
        from importlib.metadata import version

        found["executorch"] = version("executorch")
    except Exception:  # noqa: BLE001 - no executorch is a fact to report, not an error here
        found["executorch"] = None
    return found


def timed(fn, warmup, runs):
    """fn run warmup+runs times: its last output and the measured runs' latency (standard library only)."""
    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - start) * 1e3)
    median = statistics.median(times)
    ordered = sorted(times)
    return out, {"median_ms": round(median, 4), "p90_ms": round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 4),
                 "cv": round(statistics.pstdev(times) / median, 4) if median else 0.0, "runs": runs, "warmup": warmup}


def run_runtime(request, folder):
    import torch
    from executorch.runtime import Runtime

    try:
        import executorch.kernels.quantized  # noqa: F401 - registers the quantized CPU kernels, as on the host
    except ImportError:
        pass

    inputs = []
    for name, dtype, shape in request["inputs"]:
        data = bytearray(open(os.path.join(folder, name), "rb").read())
        tensor = torch.frombuffer(data, dtype=getattr(torch, dtype)) if data else torch.empty(0, dtype=getattr(torch, dtype))
        inputs.append(tensor.reshape(shape))
    # A Method does not keep its Program alive: hold both (chained, execute reads freed memory).
    data = open(os.path.join(folder, "program.pte"), "rb").read()
    program = Runtime.get().load_program(data)
    method = program.load_method("forward")
    warmup, runs = request["timing"]
    outputs, latency = timed(lambda: method.execute(inputs), warmup, runs)
    latency["threads"] = torch.get_num_threads()
    blobs = []
    for i, t in enumerate(outputs):
        t = t.contiguous().reshape(-1)
        blobs.append((f"out-{i}.bin", t.view(torch.uint8).numpy().tobytes() if t.numel() else b""))
    return latency, "", blobs


def run_runner(request, folder):
    names = [name for name, _, _ in request["inputs"]]
    outputs = [f"out-{i}.bin" for i in range(request["outputs"])]
    fields = {"program": "program.pte", "folder": folder, "inputs": ",".join(names), "outputs": ",".join(outputs)}
    argv = [arg.format(**fields) for arg in request["runner"]]
    warmup, runs = request["timing"]
    done, latency = timed(lambda: subprocess.run(argv, cwd=folder, capture_output=True, timeout=request["timeout"]), 0, 1)
    log = (done.stdout + done.stderr).decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"runner exited with {done.returncode}: {log.strip().splitlines()[-1:] or ''}")
    # The folder is new for this run: every output file is this run's, and one more than expected is an output too.
    written = sorted(n for n in os.listdir(folder) if re.fullmatch(r"out-\d+\.bin", n))
    if written != sorted(outputs):
        raise RuntimeError(f"the runner wrote {written or 'no output'}, expected {outputs}")
    blobs = [(name, open(os.path.join(folder, name), "rb").read()) for name in outputs]
    return latency, log[-4000:], blobs


def main():
    request, blobs = receive()
    if request["mode"] == "probe":
        reply({"ok": True, "info": info()})
        return
    worker = re.sub(r"[^A-Za-z0-9_-]", "_", request["worker"])[:40]
    base = os.path.join(os.path.expanduser(request.get("folder") or "~/.cache/etconform"), worker)
    os.makedirs(base, exist_ok=True)
    for old in os.listdir(base):  # an earlier run's folder: nothing of it may be read as this run's
        shutil.rmtree(os.path.join(base, old), ignore_errors=True)
    folder = tempfile.mkdtemp(prefix="run-", dir=base)
    for name, data in blobs:
        with open(os.path.join(folder, os.path.basename(name)), "wb") as f:
            f.write(data)
    try:
        run = run_runner if request["mode"] == "runner" else run_runtime
        latency, log, outputs = run(request, folder)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the host as a message
        reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000], "folder": folder})
        return
    reply({"ok": True, "latency": latency, "log": log, "folder": folder}, outputs)


if __name__ == "__main__":  # `python -c AGENT` on the device
    main()
