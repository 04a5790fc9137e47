"""Indexing and padding: slice, select, index_select, gather, take_along_dim, index,
index_put, embedding, constant_pad_nd, reflection_pad2d, replication_pad2d.

Covers: slices with steps, negative starts and ends, open ends, ranks 1 to 5; select of a
first, middle and negative position; integer indices built in the module as constant
buffers (so the case runs on quantized targets too), with repeats, reversed order and
negative positions; index_put of rows, of single elements, with repeated positions
accumulated; embedding with its ids as an integer input (float only) and with constant
ids (the table as a weight, and as an input); constant, reflection and replication
padding, asymmetric, one-sided and negative (a crop), of 1-D to 4-D inputs.
where and masked_fill are in comparison.py.
Not yet: masked_select and nonzero (data-dependent output shapes), scatter, index_add,
integer inputs other than embedding ids, zero-size slices, circular padding, 3-D pads.
"""

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators.layout import between_mul_add


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
    return lambda: WithConstants(fn, *constants)


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


CASES = [
    *op_cases("slice", None, {
        "dim1_range": (lambda g: (randn(g, 2, 8, 3),), {"module": lambda: Lambda(lambda x: x[:, 1:5]), "smoke": True}),
        "step2": (lambda g: (randn(g, 3, 12),), {"module": lambda: Lambda(lambda x: x[:, ::2])}),
        "step3_offset": (lambda g: (randn(g, 1, 2, 11, 4),), {"module": lambda: Lambda(lambda x: x[:, :, 1::3])}),
        "negative_end": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: x[:, :-2])}),
        "negative_start": (lambda g: (randn(g, 10, 3),), {"module": lambda: Lambda(lambda x: x[-4:])}),
        "rank1_prime": (lambda g: (randn(g, 31),), {"module": lambda: Lambda(lambda x: x[3:29:5])}),
        "two_dims_4d": (lambda g: (randn(g, 1, 3, 9, 9),), {"module": lambda: Lambda(lambda x: x[:, :, 2:7, 1:-1])}),
        "rank5_last_dim": (lambda g: (randn(g, 1, 2, 3, 4, 7),), {"module": lambda: Lambda(lambda x: x[..., 2:6])}),
        "end_past_size": (lambda g: (randn(g, 3, 6),), {"module": lambda: Lambda(lambda x: x[:, 2:100])}),
        "between_mul_add": (lambda g: (randn(g, 2, 16),), {"module": between_mul_add(lambda x: x[:, 4:12])}),
    }),
    *op_cases("select", None, {
        "dim1_middle": (lambda g: (randn(g, 2, 5, 6),), {"module": lambda: Lambda(lambda x: x[:, 2]), "smoke": True}),
        "dim0_first": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: x[0])}),
        "last_negative": (lambda g: (randn(g, 3, 7),), {"module": lambda: Lambda(lambda x: x.select(-1, -1))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x[:, :, 1, :, 3])}),
        "cls_token": (lambda g: (randn(g, 2, 10, 16),), {"module": lambda: Lambda(lambda x: x[:, 0, :])}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 6),), {"module": between_mul_add(lambda x: x[:, 3])}),
    }),
    *op_cases("index_select", None, {
        "dim1": (lambda g: (randn(g, 2, 8, 3),), {"module": consts(lambda x, i: torch.index_select(x, 1, i), [0, 3, 7]), "smoke": True}),
        "repeated_reversed": (lambda g: (randn(g, 6, 5),), {"module": consts(lambda x, i: torch.index_select(x, 0, i), [5, 5, 2, 0, 0])}),
        "negative_dim": (lambda g: (randn(g, 3, 4, 11),), {"module": consts(lambda x, i: torch.index_select(x, -1, i), [10, 1, 4, 6])}),
        "single_index": (lambda g: (randn(g, 1, 7, 5, 5),), {"module": consts(lambda x, i: torch.index_select(x, 1, i), [6])}),
        "rank1": (lambda g: (randn(g, 23),), {"module": consts(lambda x, i: torch.index_select(x, 0, i), [22, 0, 11, 3])}),
        "between_mul_add": (lambda g: (randn(g, 5, 8),), {"module": consts(lambda x, i: torch.index_select(x * 2, 1, i) + 1, [1, 2, 6])}),
    }),
    *op_cases("gather", None, {
        "dim1": (lambda g: (randn(g, 3, 5),), {"module": consts(lambda x, i: torch.gather(x, 1, i), [[0, 4], [2, 2], [1, 3]]), "smoke": True}),
        "dim0": (lambda g: (randn(g, 4, 3),), {"module": consts(lambda x, i: torch.gather(x, 0, i), [[3, 0, 1], [0, 0, 2]])}),
        "negative_dim_3d": (lambda g: (randn(g, 2, 2, 6),), {"module": consts(lambda x, i: torch.gather(x, -1, i),
                                                                               [[[5, 0, 1], [2, 2, 2]], [[0, 1, 2], [3, 4, 5]]])}),
        "smaller_index_4d": (lambda g: (randn(g, 1, 3, 4, 4),), {"module": consts(lambda x, i: torch.gather(x, 2, i),
                                                                                   [[[[3, 2], [0, 1]], [[1, 1], [2, 3]]]])}),
        "large_values": (lambda g: (with_edges(g, 2, 9, scale=1000.0),), {"module": consts(lambda x, i: torch.gather(x, 1, i),
                                                                                            [[8, 0, 4, 4], [1, 7, 3, 2]])}),
    }),
    *op_cases("take_along_dim", None, {
        "dim1": (lambda g: (randn(g, 3, 6),), {"module": consts(lambda x, i: torch.take_along_dim(x, i, 1), [[5, 0], [1, 1], [2, 4]]), "smoke": True}),
        "broadcast_index": (lambda g: (randn(g, 4, 7),), {"module": consts(lambda x, i: torch.take_along_dim(x, i, 1), [[6, 3, 0]])}),
        "negative_dim_3d": (lambda g: (randn(g, 2, 3, 5),), {"module": consts(lambda x, i: torch.take_along_dim(x, i, -1), [[[4], [0], [2]]])}),
        "flattened": (lambda g: (randn(g, 3, 4),), {"module": consts(lambda x, i: torch.take_along_dim(x, i), [11, 0, 5, 5])}),
    }),
    *op_cases("index", None, {
        "dim0_list": (lambda g: (randn(g, 6, 4),), {"module": consts(lambda x, i: x[i], [4, 1, 1, 0]), "smoke": True}),
        "dim1_list": (lambda g: (randn(g, 2, 7, 3),), {"module": consts(lambda x, i: x[:, i], [6, 0, 3])}),
        "negative_positions": (lambda g: (randn(g, 9, 2),), {"module": consts(lambda x, i: x[i], [-1, -9, 2])}),
        "two_index_lists": (lambda g: (randn(g, 5, 6),), {"module": consts(lambda x, i, j: x[i, j], [0, 4, 2], [5, 1, 1])}),
        "2d_index_last_dim": (lambda g: (randn(g, 1, 3, 8),), {"module": consts(lambda x, i: x[..., i], [[0, 7], [3, 3]])}),
        "rank5": (lambda g: (randn(g, 1, 2, 5, 3, 2),), {"module": consts(lambda x, i: x[:, :, i], [4, 0])}),
    }),
    *op_cases("index_put", None, {
        "rows_from_input": (lambda g: (randn(g, 5, 4), randn(g, 2, 4)),
                            {"module": consts(lambda x, v, i: torch.index_put(x, (i,), v), [1, 3]), "smoke": True}),
        "scalar_value": (lambda g: (randn(g, 6, 3),), {"module": consts(lambda x, i, v: torch.index_put(x, (i,), v), [0, 5], 2.5)}),
        "two_index_lists": (lambda g: (randn(g, 4, 5), randn(g, 3)),
                            {"module": consts(lambda x, v, i, j: torch.index_put(x, (i, j), v), [0, 2, 3], [4, 0, 1])}),
        "accumulate_repeated": (lambda g: (randn(g, 5, 3), randn(g, 3, 3)),
                                {"module": consts(lambda x, v, i: torch.index_put(x, (i,), v, accumulate=True), [2, 2, 4])}),
    }),
    *op_cases("embedding", None, {
        "ids_input": (lambda g: (_ids(g, 10, 2, 5),), {"module": lambda: torch.nn.Embedding(10, 8), "float_only": True, "smoke": True}),
        "ids_input_rank1": (lambda g: (_ids(g, 50, 7),), {"module": lambda: torch.nn.Embedding(50, 16), "float_only": True}),
        "ids_input_padding_idx": (lambda g: (torch.cat([_ids(g, 12, 6), torch.zeros(2, dtype=torch.long)]),),
                                  {"module": lambda: torch.nn.Embedding(12, 4, padding_idx=0), "float_only": True}),
        "const_ids_add": (lambda g: (randn(g, 2, 3, 8),), {"module": lambda: ConstIdsEmbedding(20, 8, [[1, 19, 4], [0, 4, 4]])}),
        "table_input_const_ids": (lambda g: (randn(g, 16, 6),), {"module": consts(lambda w, i: F.embedding(i, w), [[15, 0, 3], [3, 7, 7]])}),
        "table_input_large": (lambda g: (with_edges(g, 9, 5, scale=300.0),), {"module": consts(lambda w, i: F.embedding(i, w), [8, 2, 0, 2, 5])}),
    }),
    *op_cases("constant_pad_nd", None, {
        "last_dim_zero": (lambda g: (randn(g, 2, 3, 7),), {"module": lambda: Lambda(lambda x: F.pad(x, (1, 2))), "smoke": True}),
        "hw_value": (lambda g: (randn(g, 1, 3, 5, 5),), {"module": lambda: Lambda(lambda x: F.pad(x, (1, 1, 2, 2), value=0.5))}),
        "value_outside_range": (lambda g: (uniform(g, 1, 2, 4, 4),), {"module": lambda: Lambda(lambda x: F.pad(x, (2, 0, 0, 2), value=-8.0))}),
        "channels": (lambda g: (randn(g, 1, 3, 4, 4),), {"module": lambda: Lambda(lambda x: F.pad(x, (0, 0, 0, 0, 1, 2)))}),
        "rank1": (lambda g: (randn(g, 13),), {"module": lambda: Lambda(lambda x: F.pad(x, (3, 4), value=1.0))}),
        "negative_crop": (lambda g: (randn(g, 1, 2, 8, 8),), {"module": lambda: Lambda(lambda x: F.pad(x, (-1, -2, 1, 0)))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 6, 6),), {"module": between_mul_add(lambda x: F.pad(x, (1, 1, 1, 1)))}),
    }),
    *op_cases("reflection_pad2d", None, {
        "1px": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: torch.nn.ReflectionPad2d(1), "smoke": True}),
        "asymmetric": (lambda g: (randn(g, 1, 2, 5, 7),), {"module": lambda: torch.nn.ReflectionPad2d((0, 3, 2, 1))}),
        "max_pad_3d_input": (lambda g: (randn(g, 2, 4, 4),), {"module": lambda: torch.nn.ReflectionPad2d(3)}),
        "large_values": (lambda g: (with_edges(g, 1, 2, 5, 5, scale=1000.0),), {"module": lambda: torch.nn.ReflectionPad2d(2)}),
        "then_conv3x3": (lambda g: (randn(g, 1, 3, 8, 8),),
                         {"module": lambda: torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(3, 4, 3))}),
    }),
    *op_cases("replication_pad2d", None, {
        "1px": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: torch.nn.ReplicationPad2d(1), "smoke": True}),
        "asymmetric": (lambda g: (randn(g, 1, 2, 5, 7),), {"module": lambda: torch.nn.ReplicationPad2d((3, 0, 1, 4))}),
        "wider_than_input": (lambda g: (randn(g, 1, 1, 2, 3),), {"module": lambda: torch.nn.ReplicationPad2d(5)}),
        "3d_input": (lambda g: (randn(g, 4, 5, 5),), {"module": lambda: torch.nn.ReplicationPad2d((1, 2, 1, 2))}),
        "between_mul_add": (lambda g: (randn(g, 1, 2, 4, 4),), {"module": between_mul_add(lambda x: F.pad(x, (2, 2, 2, 2), mode="replicate"))}),
    }),
]
