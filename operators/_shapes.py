"""Shared shapes for the family files: one tensor of each rank 1 to 6, and a million elements;
and the module factories more than one family file uses."""

from collections.abc import Callable, Sequence
from typing import Any

import torch

from etconform.cases import Case, Lambda, op_cases

# Odd and prime sizes, so that no backend's vector width divides everything.
RANKS = {1: (37,), 2: (4, 19), 3: (2, 5, 11), 4: (1, 3, 8, 8), 5: (1, 2, 3, 4, 5), 6: (1, 2, 2, 3, 2, 5)}
MILLION = (1, 16, 256, 256)  # 1,048,576 elements

Draw = Callable[[torch.Generator, tuple[int, ...]], torch.Tensor]


def by_rank(subject: str, module: Callable[[], torch.nn.Module], draw: Draw, extra: dict[str, Any] | None = None,
            inputs: int = 1, **common: Any) -> list[Case]:
    """`subject`'s cases at ranks 1 to 6 (rank 4 the smoke case), `inputs` tensors drawn alike, plus `extra` variants."""
    variants: dict[str, Any] = {}
    for rank, shape in RANKS.items():
        factory = (lambda g, shape=shape: tuple(draw(g, shape) for _ in range(inputs)))
        variants[f"rank{rank}"] = (factory, {"smoke": True}) if rank == 4 else factory
    return op_cases(subject, module, {**variants, **(extra or {})}, **common)


def _where(fn: Callable[..., Any], factory: Callable[[], torch.nn.Module]) -> Callable[[], torch.nn.Module]:
    """`factory`, said to be defined where `fn` (the case's own lambda) is: a case's family, which is the
    module its module factory was defined in (etconform.plugin.hooks.family), is then the file holding the case."""
    factory.__module__ = getattr(fn, "__module__", None) or factory.__module__
    return factory


def between_mul_add(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], torch.nn.Module]:
    """A module factory: `fn(x * 2) + 1`, the layout op between two compute ops."""
    return _where(fn, lambda: Lambda(lambda x: fn(x * 2) + 1))


class WithConstants(torch.nn.Module):
    """`fn(*inputs, *constants)`, the constants (index lists, masks) built here as buffers, never inputs."""

    def __init__(self, fn: Callable[..., torch.Tensor], *constants: Sequence[Any]):
        super().__init__()
        self.fn = fn
        self.count = len(constants)
        for i, c in enumerate(constants):
            self.register_buffer(f"constant{i}", torch.tensor(c))

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fn(*args, *(getattr(self, f"constant{i}") for i in range(self.count)))


def consts(fn: Callable[..., torch.Tensor], *constants: Sequence[Any]) -> Callable[[], torch.nn.Module]:
    """A module factory: `fn(*inputs, *constants)`."""
    return _where(fn, lambda: WithConstants(fn, *constants))
