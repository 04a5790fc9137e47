"""The registry of targets: a backend, a quantization recipe and a compile spec.

Adding a target means adding one entry to TARGETS (and an expectations file).
Heavy imports happen inside the factories so that collection stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    backend: str  # "xnnpack", "tosa" or "ethos_u": also the pytest marker
    quantized: bool
    # (artifact_dir) -> (partitioner, quantizer or None)
    make: Callable[[Path], tuple[Any, Any]] = field(repr=False)
    executors: tuple[str, ...] = ()
    ethos_u_config: str = ""  # the Vela accelerator config, for Ethos-U targets


def _xnnpack(quantized: bool) -> Callable[[Path], tuple[Any, Any]]:
    def make(_: Path) -> tuple[Any, Any]:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        if not quantized:
            return XnnpackPartitioner(), None
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        return XnnpackPartitioner(), quantizer

    return make


def _tosa(spec_string: str, quantized: bool) -> Callable[[Path], tuple[Any, Any]]:
    def make(artifact_dir: Path) -> tuple[Any, Any]:
        from executorch.backends.arm.quantizer import TOSAQuantizer, get_symmetric_quantization_config
        from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
        from executorch.backends.arm.tosa.partitioner import TOSAPartitioner

        spec = TosaCompileSpec(spec_string)
        spec.dump_intermediate_artifacts_to(str(artifact_dir))
        quantizer = None
        if quantized:
            quantizer = TOSAQuantizer(spec)
            quantizer.set_global(get_symmetric_quantization_config())
        return TOSAPartitioner(spec), quantizer

    return make


def ethos_u(npu: str, system_config: str, memory_mode: str, extra_flags: tuple[str, ...] = ()) -> Callable[[Path], tuple[Any, Any]]:
    def make(artifact_dir: Path) -> tuple[Any, Any]:
        from executorch.backends.arm.ethosu import EthosUCompileSpec, EthosUPartitioner
        from executorch.backends.arm.quantizer import EthosUQuantizer, get_symmetric_quantization_config

        spec = EthosUCompileSpec(
            target=npu, system_config=system_config, memory_mode=memory_mode, extra_flags=list(extra_flags) or None
        )
        spec.dump_intermediate_artifacts_to(str(artifact_dir))
        quantizer = EthosUQuantizer(spec)
        quantizer.set_global(get_symmetric_quantization_config())
        return EthosUPartitioner(spec), quantizer

    return make


_ETHOS_U_EXECUTORS = ("quantized_eager", "tosa_ref", "stream", "vela", "fvp", "device")

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("xnnpack_fp32", "xnnpack", False, _xnnpack(False), ("et_runtime", "device")),
        Target("xnnpack_int8", "xnnpack", True, _xnnpack(True), ("quantized_eager", "et_runtime", "device")),
        Target("tosa_fp", "tosa", False, _tosa("TOSA-1.0+FP", False), ("tosa_ref",)),
        Target("tosa_int", "tosa", True, _tosa("TOSA-1.0+INT", True), ("quantized_eager", "tosa_ref")),
        Target(
            "ethos_u55_128",
            "ethos_u",
            True,
            ethos_u("ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram"),
            _ETHOS_U_EXECUTORS,
            "ethos-u55-128",
        ),
        Target(
            "ethos_u85_256",
            "ethos_u",
            True,
            ethos_u("ethos-u85-256", "Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB"),
            _ETHOS_U_EXECUTORS,
            "ethos-u85-256",
        ),
    )
}
