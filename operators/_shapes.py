"""Shared shapes for the family files: one tensor of each rank 1 to 6, and a million elements."""

from collections.abc import Callable
from typing import Any

import torch

from etconform.cases import Case, op_cases

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
