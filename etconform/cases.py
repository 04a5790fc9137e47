"""What a case is: a module factory, a lazy seeded input factory, and its knobs.

Catalog files (operators/, models/) hold cases as data; nothing here knows a backend.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

Inputs = tuple[torch.Tensor, ...]

# Operators without a calibration factory calibrate on this many samples drawn apart from
# the checked ones: the checked sample then reaches past the calibrated range at its
# extremes, so saturation and clamping are exercised rather than calibrated away.
CALIBRATION_SAMPLES = 4
HEAVY_MARGIN = 2.0  # a heavy case's limits: this times its measured lowering (a busy machine is slower)
SATURATING_GAIN = 1.5  # a saturating case's checked inputs, times this, exceed the calibrated range


def mixed_seed(case_id: str, seed: int) -> int:
    """A case's own seed from the run's (--seed), and back: the mix is its own inverse, so a
    record's case seed gives the run's seed it came from."""
    return (zlib.crc32(case_id.encode()) ^ seed) & 0x7FFFFFFF


@dataclass(frozen=True)
class Case:
    subject: str  # the operator or model name
    variant: str  # readable, greppable: "3x3_stride2"
    module: Callable[[], torch.nn.Module] = field(repr=False)
    inputs: Callable[[torch.Generator], Inputs] = field(repr=False)
    kind: str = "operator"
    smoke: bool = False
    float_only: bool = False  # NaN/Inf or integer-only cases: quantized targets do not apply
    # The backends a case applies to (() = all): for a model whose lowering elsewhere would only
    # repeat, at length, what smaller cases already record (each use says why).
    backends: tuple[str, ...] = ()
    # {backend or target name: seconds one target's lowering took here}, where that is hours: those tests carry
    # the `heavy` marker, run only when asked (-m heavy, or named by node id), and get twice the
    # measured time as their `lower` stage limit and their pytest-timeout (docs/release-engineer.md, "Heavy tests").
    heavy: dict[str, float] = field(default_factory=dict)
    # Tolerance overrides for this case: keys of etconform.judging.tolerances.Tolerance.
    tolerance: dict[str, float] = field(default_factory=dict)
    # Models: how many evaluation samples, a separate calibration set, which model metrics.
    samples: int = 1
    calibration: Callable[[torch.Generator], list[Inputs]] | None = field(default=None, repr=False)
    metrics: str = ""  # "" (elementwise), "classifier" or "language_model"
    weights: Callable[[], str] | None = field(default=None, repr=False)  # says which weights were used
    saturating: bool = False  # checked floating inputs scaled by SATURATING_GAIN after drawing
    # Real data (models): evaluation samples with their true labels and a calibration set
    # apart from them, instead of the seeded `inputs`; `data` says what the inputs are.
    dataset: Callable[[], Dataset] | None = field(default=None, repr=False)
    data: str = ""
    # Dynamic shapes: {input index: {dim: (name, min, max)}}, one torch.export.Dim per name.
    # The case is exported at the size `inputs` gives, lowered once, and run at that size and
    # at each size a `resized` factory gives (the other evaluation samples).
    dynamic: dict[int, dict[int, tuple[str, int, int]]] = field(default_factory=dict)
    resized: tuple[Callable[[torch.Generator], Inputs], ...] = field(default=(), repr=False)

    def applies_to(self, target: Any) -> bool:  # noqa: ANN401 - a Target (targets.py imports this module)
        return not (self.float_only and target.quantized) and (not self.backends or target.backend in self.backends)

    def allowance(self, target: Any) -> dict[str, float]:  # noqa: ANN401 - a Target
        """Stage time limits beyond the defaults for this case on `target`: {} unless heavy there."""
        measured = self.heavy.get(target.name, self.heavy.get(target.backend))
        return {"lower": HEAVY_MARGIN * measured} if measured else {}

    @property
    def id(self) -> str:
        return f"{self.subject}-{self.variant}"

    def seed(self, base_seed: int) -> int:
        return mixed_seed(self.id, base_seed)

    def dynamic_shapes(self, inputs: Inputs) -> tuple[dict[int, Any] | None, ...] | None:
        """torch.export's dynamic_shapes for these inputs; None for a static case."""
        if not self.dynamic:
            return None
        from torch.export import Dim

        dims = {name: Dim(name, min=low, max=high) for spec in self.dynamic.values() for name, low, high in spec.values()}
        return tuple({d: dims[spec[0]] for d, spec in self.dynamic[i].items()} if i in self.dynamic else None
                     for i in range(len(inputs)))

    def build(self, base_seed: int) -> tuple[torch.nn.Module, Inputs]:
        """The module (weights seeded) and its first inputs (seeded), both deterministic."""
        built = self.build_all(base_seed)
        return built.module, built.samples[0]

    def build_all(self, base_seed: int) -> Built:
        """The module, the evaluation samples and the calibration samples, all seeded."""
        seed = self.seed(base_seed)
        torch.manual_seed(seed)
        module = self.module().eval()
        if self.dataset is not None:
            data = self.dataset()
            return Built(module, list(data.samples), list(data.calibration), list(data.labels))
        generator = torch.Generator().manual_seed(seed)
        samples = [tuple(self.inputs(generator)) for _ in range(self.samples)]
        samples += [tuple(other(generator)) for other in self.resized]
        if self.calibration:
            calibration = [tuple(s) for s in self.calibration(generator)]
        else:
            # Same factory, another seed: a wider sample that never contains the checked one.
            apart = torch.Generator().manual_seed(seed + 1)
            calibration = [tuple(self.inputs(apart)) for _ in range(CALIBRATION_SAMPLES)]
        if self.saturating:
            samples = [saturate(s) for s in samples]
        return Built(module, samples, calibration)


def shapes_for(module: torch.nn.Module, dynamic_shapes: Any) -> Any:
    """`dynamic_shapes` (one entry per input) as torch.export wants it for this module's forward:
    a forward(*args) (Lambda, a GraphModule from export) takes them as its one parameter."""
    if dynamic_shapes is None:
        return None
    params = list(inspect.signature(module.forward).parameters.values())
    if params and params[0].kind == inspect.Parameter.VAR_POSITIONAL:
        return (dynamic_shapes,)
    return dynamic_shapes


@dataclass
class Built:
    module: torch.nn.Module
    samples: list[Inputs]
    calibration: list[Inputs]
    # The true class of each evaluation sample (or a language model's next tokens), when the data has them.
    labels: list[int] | list[list[int]] | None = None


@dataclass(frozen=True)
class Dataset:
    """Real evaluation samples with their true labels, and calibration samples apart from them."""

    samples: Sequence[Inputs]
    labels: Sequence[int] | Sequence[Sequence[int]]  # a class per sample, or a language model's next tokens
    calibration: Sequence[Inputs]


class Unavailable(Exception):
    """A case's weights or data are not installed: a skip whose message names how to install them."""


def op_cases(subject: str, module: Callable[[], torch.nn.Module] | None, variants: dict[str, Any], **common: Any) -> list[Case]:
    """Cases of one operator: variant id -> input factory, or (input factory, options).

    Options override `common` per variant, e.g. {"module": ..., "smoke": True}.
    """
    cases = []
    for variant, spec in variants.items():
        factory, options = spec if isinstance(spec, tuple) else (spec, {})
        fields_ = {"module": module, **common, **options}
        cases.append(Case(subject, variant, inputs=factory, **fields_))
    return cases


def saturate(inputs: Inputs, gain: float = SATURATING_GAIN) -> Inputs:
    """Floating inputs scaled past the calibrated range; integer and bool inputs unchanged."""
    return tuple(x * gain if isinstance(x, torch.Tensor) and x.is_floating_point() else x for x in inputs)


class Lambda(torch.nn.Module):
    """Wraps a function of tensors as a module, so an operator case is one line."""

    def __init__(self, fn: Callable[..., Any]):
        super().__init__()
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> Any:
        return self.fn(*args)


class Calls(torch.nn.Module):
    """A layer called as `fn(layer, *inputs)`. The layer is a registered submodule, so a copy,
    .half() or a quantizer reaches it; a Lambda closing over a layer would keep calling the
    original after a deepcopy (the fp16 target found this: its copy was half, the call fp32)."""

    def __init__(self, layer: torch.nn.Module, fn: Callable[..., Any] | None = None):
        super().__init__()
        self.layer = layer
        self.fn = fn

    def forward(self, *args: torch.Tensor) -> Any:
        return self.fn(self.layer, *args) if self.fn else self.layer(*args)


# Input factories: seeded, with the edge values the issue asks for.
def randn(g: torch.Generator, *shape: int, std: float = 1.0, mean: float = 0.0) -> torch.Tensor:
    return torch.randn(shape, generator=g) * std + mean


def uniform(g: torch.Generator, *shape: int, low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    return torch.rand(shape, generator=g) * (high - low) + low


def with_edges(g: torch.Generator, *shape: int, scale: float = 4.0, edges: Sequence[float] = (0.0, -0.0)) -> torch.Tensor:
    """Normal values times `scale`, with zeros, negative zeros and the extremes sprinkled in."""
    x = randn(g, *shape, std=scale).flatten()
    specials = torch.tensor([*edges, x.abs().max().item(), -x.abs().max().item()])
    idx = torch.randperm(x.numel(), generator=g)[: min(len(specials), x.numel())]
    x[idx] = specials[: len(idx)]
    return x.reshape(shape)
