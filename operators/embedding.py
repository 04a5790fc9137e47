"""Sparse layers: embedding, embedding_bag.

Covers: embedding with its ids as an integer input (float only) and with constant ids (the
table as a weight, and as an input), padding_idx; embedding_bag with sum, mean and max and
per-sample weights, one id per bag.
Not yet: embedding_bag with offsets (1-D ids), max_norm.
"""

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from etconform.cases import Calls, op_cases, randn, uniform, with_edges
from operators._shapes import consts

nn = torch.nn


class ConstIdsEmbedding(torch.nn.Module):
    """An embedding looked up with constant ids, plus an input so the case has one."""

    def __init__(self, num: int, dim: int, ids: Sequence[Any]):
        super().__init__()
        self.embedding = torch.nn.Embedding(num, dim)
        self.register_buffer("ids", torch.tensor(ids))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(self.ids) + x


def _ids(g: torch.Generator, num: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, num, shape, generator=g)


def _bag(mode: str, weights: bool = False) -> nn.Module:
    bag = nn.EmbeddingBag(50, 8, mode=mode)
    return Calls(bag, (lambda layer, ids, w: layer(ids, per_sample_weights=w)) if weights else None)


CASES = [
    *op_cases("embedding", None, {
        "ids_input": (lambda g: (_ids(g, 10, 2, 5),), {"module": lambda: torch.nn.Embedding(10, 8), "float_only": True, "smoke": True}),
        "ids_input_rank1": (lambda g: (_ids(g, 50, 7),), {"module": lambda: torch.nn.Embedding(50, 16), "float_only": True}),
        "ids_input_padding_idx": (lambda g: (torch.cat([_ids(g, 12, 6), torch.zeros(2, dtype=torch.long)]),),
                                  {"module": lambda: torch.nn.Embedding(12, 4, padding_idx=0), "float_only": True}),
        "const_ids_add": (lambda g: (randn(g, 2, 3, 8),), {"module": lambda: ConstIdsEmbedding(20, 8, [[1, 19, 4], [0, 4, 4]])}),
        "table_input_const_ids": (lambda g: (randn(g, 16, 6),), {"module": consts(lambda w, i: F.embedding(i, w), [[15, 0, 3], [3, 7, 7]])}),
        "table_input_large": (lambda g: (with_edges(g, 9, 5, scale=300.0),), {"module": consts(lambda w, i: F.embedding(i, w), [8, 2, 0, 2, 5])}),
    }),
    *op_cases("embedding_bag", None, {
        "mean_default": (lambda g: (torch.randint(0, 50, (4, 6), generator=g),), {"module": lambda: _bag("mean"), "smoke": True}),
        "sum": (lambda g: (torch.randint(0, 50, (3, 5), generator=g),), {"module": lambda: _bag("sum")}),
        "max": (lambda g: (torch.randint(0, 50, (3, 5), generator=g),), {"module": lambda: _bag("max")}),
        "sum_per_sample_weights": (lambda g: (torch.randint(0, 50, (3, 5), generator=g), uniform(g, 3, 5, low=0.0, high=2.0)),
                                   {"module": lambda: _bag("sum", weights=True)}),
        "one_per_bag": (lambda g: (torch.randint(0, 50, (7, 1), generator=g),), {"module": lambda: _bag("mean")}),
    }),
]
