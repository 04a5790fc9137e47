"""Executors: each runs a lowered case on one execution target.

Adding an executor: a module here with a subclass of base.Executor (name, role, level;
probe(target) and run(lowered, inputs); cross_check, cacheable and needs_graph where the
defaults do not hold) and one line in EXECUTORS. One that compares something itself returns
it in ExecResult.checks, and one that finds at run time that it cannot run this program raises
NotRunnable (a skip naming why). Targets list the executors that apply to them
(etconform/targets.py). tosa_ref.run_edge runs an edge program with its delegate calls answered
by a DelegateCalls mode; tosa_ref.delegate_calls keeps each call's arrays for tools and tests.
"""

from __future__ import annotations

from executors.base import Availability, ExecResult, Executor, NotRunnable
from executors.device import SSHDevice
from executors.et_runtime import ExecuTorchRuntime
from executors.ethosu_stream import EthosUStream
from executors.fvp import CorstoneFVP
from executors.quantized_eager import QuantizedEager
from executors.tosa_ref import TosaReferenceModel
from executors.vela_estimate import VelaEstimate

EXECUTORS: dict[str, Executor] = {
    e.name: e
    for e in (QuantizedEager(), ExecuTorchRuntime(), TosaReferenceModel(), EthosUStream(), VelaEstimate(), CorstoneFVP(),
              SSHDevice())
}

__all__ = ["EXECUTORS", "Availability", "Executor", "ExecResult", "NotRunnable"]
