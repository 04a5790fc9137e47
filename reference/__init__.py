"""Executors: each runs a lowered case on one execution target.

Adding an executor: a module here with a class that has `name`, `role`, `level`,
`probe(target)` and `run(lowered, inputs)`, and one line in EXECUTORS. An executor
with `cross_check = "other"` is also held to within one output step of that executor; one that
compares something itself returns it in ExecResult.checks, and one that finds at run time that it
cannot run this program raises NotRunnable (a skip naming why). Targets list
the executors that apply to them (etconform/targets.py).
"""

from __future__ import annotations

from reference.base import Availability, ExecResult, Executor, NotRunnable
from reference.device import SSHDevice
from reference.et_runtime import ExecuTorchRuntime
from reference.ethosu_stream import EthosUStream
from reference.fvp import CorstoneFVP
from reference.quantized_eager import QuantizedEager
from reference.tosa_ref import TosaReferenceModel
from reference.vela_estimate import VelaEstimate

EXECUTORS: dict[str, Executor] = {
    e.name: e
    for e in (QuantizedEager(), ExecuTorchRuntime(), TosaReferenceModel(), EthosUStream(), VelaEstimate(), CorstoneFVP(),
              SSHDevice())
}

__all__ = ["EXECUTORS", "Availability", "Executor", "ExecResult", "NotRunnable"]
