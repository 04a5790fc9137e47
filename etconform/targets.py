"""The registry of targets: a backend, a quantization recipe and a compile spec.

Adding a target means adding one entry to TARGETS (and an expectations file).
Heavy imports happen inside the factories so that collection stays fast.

A target's recipe is what `make` returns beside the partitioner: a PT2E quantizer, a
`SourceTransform` (the eager module rewritten before export: torchao's 8da4w, fp16), or None.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Formats:
    """What a quantized target declares it computes in (etconform.judging.ideal, etconform.lowering.scales.level_findings)."""

    activation_bits: int
    weight_bits: int
    per_channel: bool = True
    static: bool = True  # activations on grids fixed at calibration (False: quantized per call at run time)


@dataclass(frozen=True)
class Target:
    name: str
    backend: str  # "xnnpack", "tosa" or "ethos_u": also the pytest marker
    quantized: bool
    # (artifact_dir) -> (partitioner, quantizer, SourceTransform or None)
    make: Callable[[Path], tuple[Any, Any]] = field(repr=False)
    executors: tuple[str, ...] = ()
    ethos_u_config: str = ""  # the Vela accelerator config, for Ethos-U targets
    numerics: str = ""  # what the program computes in, for people: "int8 (a8w8)", "fp16", ...
    # Defaults of etconform.judging.tolerances.Tolerance for this target, before a case's and the expectations'.
    tolerance: dict[str, float] = field(default_factory=dict)
    # Float targets that compute in a narrower float: eager's reference takes its inputs
    # rounded to it and rounds its outputs to it (what the program can see and represent).
    rounds_to: str = ""
    # A dynamic recipe quantizes these ops' activations at run time and leaves everything else
    # in float by design: only these must not be delegated in float (etconform.lowering.pipeline).
    dynamic_ops: tuple[str, ...] = ()
    # The quantizer's smallest step (its observers' eps): a coarser step it picks for a tiny range is by design.
    min_step: float = 2**-16
    # What a quantized target declares it computes in: the ideal reference's grids (etconform.judging.ideal)
    # and the fewest levels a quantizer may use (etconform.lowering.scales.level_findings). None: float.
    formats: Formats | None = None

    @property
    def transformed(self) -> bool:
        """Whether the program is made from a rewritten eager module, which is then the reference."""
        return self.quantized or bool(self.rounds_to)


@dataclass(frozen=True)
class SourceTransform:
    """A recipe that rewrites the eager module before export (not PT2E): `apply(module) -> module`."""

    name: str
    apply: Callable[[Any], Any] = field(repr=False)


def _xnnpack(config: dict[str, bool] | None) -> Callable[[Path], tuple[Any, Any]]:
    """config: get_symmetric_quantization_config's arguments; None for fp32."""

    def make(_: Path) -> tuple[Any, Any]:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        if config is None:
            return XnnpackPartitioner(), None
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(**config))
        return XnnpackPartitioner(), quantizer

    return make


def _xnnpack_source(transform: Callable[[Any], Any], name: str) -> Callable[[Path], tuple[Any, Any]]:
    def make(_: Path) -> tuple[Any, Any]:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

        return XnnpackPartitioner(), SourceTransform(name, transform)

    return make


def _8da4w(module: Any) -> Any:
    """ExecuTorch's LLM recipe: int8 dynamic per-token activations, int4 weights in groups of 32
    (torchao), on every linear whose input width the group divides; the others stay fp32."""
    from executorch.extension.llm.export.quantize import quantize_model_

    quantize_model_(module, qlinear_config="8da4w", qlinear_group_size=32, skip_incompatible_shapes=True)
    return module


def _half(module: Any) -> Any:
    """The module in fp16 behind fp32 inputs and outputs: the program takes what eager takes."""
    import torch

    class Half(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner.half()

        def forward(self, *args: Any) -> Any:
            args = tuple(a.half() if a.is_floating_point() else a for a in args)
            out = self.inner(*args)
            return torch.utils._pytree.tree_map(
                lambda t: t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t, out)

    return Half(module)


def _tosa(spec_string: str, config: str) -> Callable[[Path], tuple[Any, Any]]:
    """config: "" (float), "a8w8" or "a16w8", the Arm quantization configs."""

    def make(artifact_dir: Path) -> tuple[Any, Any]:
        from executorch.backends.arm.quantizer import TOSAQuantizer
        from executorch.backends.arm.tosa.compile_spec import TosaCompileSpec
        from executorch.backends.arm.tosa.partitioner import TOSAPartitioner

        spec = TosaCompileSpec(spec_string)
        spec.dump_intermediate_artifacts_to(str(artifact_dir))
        quantizer = None
        if config:
            quantizer = TOSAQuantizer(spec)
            quantizer.set_global(_arm_config(config))
        return TOSAPartitioner(spec), quantizer

    return make


def _arm_config(config: str) -> Any:
    from executorch.backends.arm.quantizer import (
        get_symmetric_a16w8_quantization_config,
        get_symmetric_quantization_config,
    )

    return {"a8w8": get_symmetric_quantization_config, "a16w8": get_symmetric_a16w8_quantization_config}[config]()


def ethos_u(npu: str, system_config: str, memory_mode: str, extra_flags: tuple[str, ...] = (),
            config: str = "a8w8") -> Callable[[Path], tuple[Any, Any]]:
    def make(artifact_dir: Path) -> tuple[Any, Any]:
        from executorch.backends.arm.ethosu import EthosUCompileSpec, EthosUPartitioner
        from executorch.backends.arm.quantizer import EthosUQuantizer

        spec = EthosUCompileSpec(
            target=npu, system_config=system_config, memory_mode=memory_mode, extra_flags=list(extra_flags) or None
        )
        spec.dump_intermediate_artifacts_to(str(artifact_dir))
        quantizer = EthosUQuantizer(spec)
        quantizer.set_global(_arm_config(config))
        return EthosUPartitioner(spec), quantizer

    return make


_ETHOS_U_EXECUTORS = ("quantized_eager", "tosa_ref", "stream", "vela", "fvp", "device")
_XNNPACK_INT = ("quantized_eager", "et_runtime", "device")
_U55 = ("ethos-u55-128", "Ethos_U55_High_End_Embedded", "Shared_Sram")
_U85 = ("ethos-u85-256", "Ethos_U85_SYS_DRAM_Mid", "Dedicated_Sram_384KB")
A8W8 = "int8 (a8w8: per-tensor activations, per-channel weights)"
A16W8 = "a16w8 (int16 activations, per-channel int8 weights)"
A16W8_EPS = 2**-12  # get_symmetric_a16w8_quantization_config's epsilon
INT8, INT16_INT8 = Formats(8, 8), Formats(16, 8)

# 8da4w against eager: 4-bit weights in groups of 32 on max-abs scales leave a linear's output
# at 22.2 dB (Gaussian weights) to 23.5 dB (uniform: nn.Linear's init; 24.2 to 25.9 dB
# measured here with torchao's scale search); the floor sits 6 dB under, as int8's 25 dB sits
# under its lowest operator (31 dB). The lowering check (40 dB against 8da4w eager) is unchanged.
INT4_WEIGHTS = {"float_output_min_sqnr_db": 16.0}

# fp16: inputs and outputs rounded to fp16 on eager's side too, so the bound counts what
# the program adds. atol = rtol = 2^-10 (two units of fp16 roundoff): fp16 conv sums of
# 576 terms need 2.6e-4 to 4.2e-4 of the output's magnitude (tests/test_compare.py);
# fp32 reordering needs 1.6e-7, bf16 softmax 3.3e-3.
# Models (2026-12-01): the fp16 module against eager 59.2 dB (DS-CNN), 60.9 dB (ResNet-8), 46.8 dB
# (EfficientNet-Lite0); the XNNPACK fp16 programs 56.9, 58.3 and 41.6 dB (cosine 0.9999655).
# The gates sit as the measured model gates do (suites/expectations/models/thresholds.toml): 6 dB under the worst,
# four times its distance from 1. The same gates hold the program to the fp16 module.
FP16 = {"atol": 2.0**-10, "rtol": 2.0**-10, "float_min_sqnr_db": 35.6, "float_min_cosine": 0.99986}

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("xnnpack_fp32", "xnnpack", False, _xnnpack(None), ("et_runtime", "device"), numerics="fp32"),
        Target("xnnpack_int8", "xnnpack", True, _xnnpack({"is_per_channel": True}), _XNNPACK_INT, numerics=A8W8,
               formats=INT8),
        Target("tosa_fp", "tosa", False, _tosa("TOSA-1.0+FP", ""), ("tosa_ref",), numerics="fp32"),
        Target("tosa_int", "tosa", True, _tosa("TOSA-1.0+INT", "a8w8"), ("quantized_eager", "tosa_ref"), numerics=A8W8,
               formats=INT8),
        Target("ethos_u55_128", "ethos_u", True, ethos_u(*_U55), _ETHOS_U_EXECUTORS, "ethos-u55-128", A8W8, formats=INT8),
        Target("ethos_u85_256", "ethos_u", True, ethos_u(*_U85), _ETHOS_U_EXECUTORS, "ethos-u85-256", A8W8, formats=INT8),
        # The formats users ship beside a8w8.
        Target("tosa_int16", "tosa", True, _tosa("TOSA-1.0+INT+int16", "a16w8"), ("quantized_eager", "tosa_ref"),
               numerics=A16W8, min_step=A16W8_EPS, formats=INT16_INT8),
        Target("ethos_u55_128_a16w8", "ethos_u", True, ethos_u(*_U55, config="a16w8"), _ETHOS_U_EXECUTORS,
               "ethos-u55-128", A16W8, min_step=A16W8_EPS, formats=INT16_INT8),
        Target("ethos_u85_256_a16w8", "ethos_u", True, ethos_u(*_U85, config="a16w8"), _ETHOS_U_EXECUTORS,
               "ethos-u85-256", A16W8, min_step=A16W8_EPS, formats=INT16_INT8),
        Target("xnnpack_int8_per_tensor", "xnnpack", True, _xnnpack({"is_per_channel": False}), _XNNPACK_INT,
               numerics="int8, per-tensor weights", formats=Formats(8, 8, per_channel=False)),
        Target("xnnpack_int8_dynamic", "xnnpack", True, _xnnpack({"is_per_channel": True, "is_dynamic": True}),
               _XNNPACK_INT, numerics="int8 dynamic activations, per-channel int8 weights",
               dynamic_ops=("aten.linear", "aten.convolution"), formats=Formats(8, 8, static=False)),  # the XNNPACK quantizer's dynamic patterns
        Target("xnnpack_8da4w", "xnnpack", True, _xnnpack_source(_8da4w, "8da4w"), _XNNPACK_INT,
               numerics="8da4w: int8 dynamic activations, int4 weights in groups of 32 (torchao)",
               dynamic_ops=("aten.linear",), tolerance=INT4_WEIGHTS,
               formats=Formats(8, 4, static=False)),
        Target("xnnpack_fp16", "xnnpack", False, _xnnpack_source(_half, "fp16"), _XNNPACK_INT, numerics="fp16",
               tolerance=FP16, rounds_to="float16"),
    )
}
