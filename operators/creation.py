"""Tensors made in the graph and dtype casts: arange, full, zeros, ones, full_like, zeros_like,
ones_like, tril, triu and `.to(dtype)`.

A graph that only makes a constant is folded away, so each creation op is combined with
the input (added, multiplied, indexed by it), as models use them: positions, masks, offsets.
Covers: arange with one, two and three arguments (and a negative step, a float step),
full with float and integer values and with its dtype given or left out, zeros and ones of
an input's shape, the *_like ops with and without a dtype, tril and triu with the default
diagonal and positive and negative ones, on square, wide, tall and batched matrices (a causal
mask), `.to` between float32, float16, int32, int64 and bool, rank 1 to 6 for the casts.
Not yet: torch.empty (values undefined), linspace, eye.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, uniform
from operators._shapes import by_rank

nn = torch.nn


def _int(g: torch.Generator, *shape: int, low: int = -100, high: int = 100) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=g, dtype=torch.int32)


CASES = [
    *op_cases("arange", None, {
        "end_added": (lambda g: (randn(g, 2, 16),), {"module": lambda: Lambda(lambda x: x + torch.arange(16)), "smoke": True}),
        "start_end": (lambda g: (randn(g, 3, 10),), {"module": lambda: Lambda(lambda x: x * torch.arange(2, 12))}),
        "step_float": (lambda g: (randn(g, 20),), {"module": lambda: Lambda(lambda x: x + torch.arange(0.0, 2.0, 0.1))}),
        "negative_step": (lambda g: (randn(g, 4, 8),), {"module": lambda: Lambda(lambda x: x - torch.arange(8, 0, -1))}),
        "positions_index": (lambda g: (randn(g, 1, 16, 8),), {"module": lambda: Lambda(lambda x: x[:, torch.arange(0, 16, 2)])}),
        "int_dtype_rank1": (lambda g: (_int(g, 12),), {"module": lambda: Lambda(lambda x: x + torch.arange(12, dtype=torch.int32))}),
    }),
    *op_cases("full", None, {
        "float_added": (lambda g: (randn(g, 2, 8),), {"module": lambda: Lambda(lambda x: x + torch.full((2, 8), 0.5)), "smoke": True}),
        "negative_times": (lambda g: (randn(g, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x * torch.full((3, 4, 5), -2.5))}),
        "int_value_inferred_dtype": (lambda g: (_int(g, 4, 6),), {"module": lambda: Lambda(lambda x: x + torch.full((4, 6), 7))}),
        "dtype_given": (lambda g: (randn(g, 4, 6),), {"module": lambda: Lambda(lambda x: x + torch.full((4, 6), 3, dtype=torch.float32))}),
        "broadcast_rank6": (lambda g: (randn(g, 1, 2, 2, 3, 2, 5),), {"module": lambda: Lambda(lambda x: x + torch.full((5,), 1.25))}),
        "mask_fill_value": (lambda g: (randn(g, 4, 4),), {"module": lambda: Lambda(
            lambda x: torch.where(x > 0, x, torch.full((4, 4), -10.0)))}),
    }),
    *op_cases("zeros", None, {
        "added": (lambda g: (randn(g, 2, 8),), {"module": lambda: Lambda(lambda x: x + torch.zeros(2, 8)), "smoke": True}),
        "cat_padding": (lambda g: (randn(g, 1, 3, 5),), {"module": lambda: Lambda(lambda x: torch.cat([x, torch.zeros(1, 3, 2)], dim=-1))}),
        "maximum_relu": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: torch.maximum(x, torch.zeros(4, 9)))}),
        "int_dtype": (lambda g: (_int(g, 3, 3),), {"module": lambda: Lambda(lambda x: x + torch.zeros(3, 3, dtype=torch.int32))}),
    }),
    *op_cases("ones", None, {
        "added": (lambda g: (randn(g, 2, 8),), {"module": lambda: Lambda(lambda x: x + torch.ones(2, 8)), "smoke": True}),
        "scaled": (lambda g: (randn(g, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x * (torch.ones(3, 4, 5) * 0.5))}),
        "cat": (lambda g: (randn(g, 2, 7),), {"module": lambda: Lambda(lambda x: torch.cat([torch.ones(2, 1), x], dim=1))}),
        "bool_mask": (lambda g: (randn(g, 4, 4),), {"module": lambda: Lambda(
            lambda x: x.masked_fill(torch.ones(4, 4, dtype=torch.bool).triu(1), 0.0))}),
    }),
    *op_cases("full_like", None, {
        "float": (lambda g: (randn(g, 2, 8),), {"module": lambda: Lambda(lambda x: x + torch.full_like(x, 0.25)), "smoke": True}),
        "dtype_int": (lambda g: (randn(g, 3, 5),), {"module": lambda: Lambda(lambda x: torch.full_like(x, 3, dtype=torch.int32) + x.to(torch.int32))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: torch.maximum(x, torch.full_like(x, -0.5)))}),
        "int_input": (lambda g: (_int(g, 4, 4),), {"module": lambda: Lambda(lambda x: x * torch.full_like(x, 2))}),
    }),
    *op_cases("zeros_like", None, {
        "added": (lambda g: (randn(g, 2, 8),), {"module": lambda: Lambda(lambda x: x + torch.zeros_like(x)), "smoke": True}),
        "where": (lambda g: (randn(g, 3, 7),), {"module": lambda: Lambda(lambda x: torch.where(x > 0, x, torch.zeros_like(x)))}),
        "dtype_bool": (lambda g: (randn(g, 3, 7),), {"module": lambda: Lambda(lambda x: torch.zeros_like(x, dtype=torch.bool) | (x > 0))}),
    }),
    *op_cases("ones_like", None, {
        "added": (lambda g: (randn(g, 2, 8),), {"module": lambda: Lambda(lambda x: x + torch.ones_like(x)), "smoke": True}),
        "divided": (lambda g: (uniform(g, 3, 7, low=0.5, high=2.0),), {"module": lambda: Lambda(lambda x: torch.ones_like(x) / x)}),
        "dtype_int": (lambda g: (randn(g, 3, 7),), {"module": lambda: Lambda(lambda x: torch.ones_like(x, dtype=torch.int32) + 1)}),
    }),
    *op_cases("tril", lambda: Lambda(torch.tril), {
        "square": (lambda g: (randn(g, 8, 8),), {"smoke": True}),
        "diagonal_1": (lambda g: (randn(g, 6, 6),), {"module": lambda: Lambda(lambda x: torch.tril(x, diagonal=1))}),
        "diagonal_minus_2": (lambda g: (randn(g, 6, 6),), {"module": lambda: Lambda(lambda x: torch.tril(x, -2))}),
        "wide": lambda g: (randn(g, 4, 11),),
        "tall": lambda g: (randn(g, 11, 4),),
        "batched_4d": lambda g: (randn(g, 1, 2, 7, 7),),
        "causal_mask": (lambda g: (randn(g, 1, 2, 8, 8),), {"module": lambda: Lambda(
            lambda s: s.masked_fill(torch.tril(torch.ones(8, 8, dtype=torch.bool)).logical_not(), -1e4).softmax(-1))}),
    }),
    *op_cases("triu", lambda: Lambda(torch.triu), {
        "square": (lambda g: (randn(g, 8, 8),), {"smoke": True}),
        "diagonal_1": (lambda g: (randn(g, 6, 6),), {"module": lambda: Lambda(lambda x: torch.triu(x, diagonal=1))}),
        "diagonal_minus_1": (lambda g: (randn(g, 6, 6),), {"module": lambda: Lambda(lambda x: torch.triu(x, -1))}),
        "wide": lambda g: (randn(g, 4, 11),),
        "tall": lambda g: (randn(g, 11, 4),),
        "batched_5d": lambda g: (randn(g, 1, 2, 2, 5, 5),),
        "int": lambda g: (_int(g, 5, 5),),
    }),
    *by_rank("to_dtype", lambda: Lambda(lambda x: x.to(torch.int32)), lambda g, shape: randn(g, *shape, std=50.0), {
        "float_to_half_and_back": (lambda g: (randn(g, 4, 16, std=100.0),), {"module": lambda: Lambda(lambda x: x.to(torch.float16).to(torch.float32))}),
        "int_to_float": (lambda g: (_int(g, 4, 16, low=-1000, high=1000),), {"module": lambda: Lambda(lambda x: x.to(torch.float32) * 0.5)}),
        "float_to_bool": (lambda g: (torch.where(torch.rand(3, 9, generator=g) > 0.5, randn(g, 3, 9), torch.zeros(3, 9)),),
                          {"module": lambda: Lambda(lambda x: x.to(torch.bool))}),
        "bool_to_float": (lambda g: (torch.rand(3, 9, generator=g) > 0.5,), {"module": lambda: Lambda(lambda x: x.to(torch.float32) - 0.5)}),
        "int32_to_int64": (lambda g: (_int(g, 3, 9),), {"module": lambda: Lambda(lambda x: x.to(torch.int64) * 3)}),
    }),
]
