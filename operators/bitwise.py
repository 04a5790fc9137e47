"""Bitwise and logical ops on integers and bools: bitwise_and, or, xor, not, left and right
shifts, logical_xor.

Covers: int32 at ranks 1 to 6, int8 and int64, bool operands, negative values (two's
complement), broadcasting, scalar operands, shifts by 0 to 7 and of negative numbers
(arithmetic right shift), logical_xor of floats (nonzero is true) and of bools. Integer and
bool inputs are not quantized, so these run on the quantized targets too: TOSA INT claims
the bitwise ops on int32 and the logical ones on bool.
Not yet: uint8, shifts past the width (undefined in C, defined in PyTorch).
"""

import torch

from etconform.cases import Lambda, op_cases, randn
from operators._shapes import by_rank


def _ints(low: int = -1000, high: int = 1000, dtype: torch.dtype = torch.int32):
    return lambda g, shape: torch.randint(low, high, shape, generator=g, dtype=dtype)


def _bools(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=g) > 0.5


def _binary(name: str) -> list:
    fn = getattr(torch, name)
    return by_rank(name, lambda: Lambda(fn), _ints(), {
        "int8": lambda g: (_ints(-128, 128, torch.int8)(g, (3, 17)), _ints(-128, 128, torch.int8)(g, (3, 17))),
        "int64": lambda g: (_ints(-2**40, 2**40, torch.int64)(g, (2, 9)), _ints(-2**40, 2**40, torch.int64)(g, (2, 9))),
        "bool": lambda g: (_bools(g, (4, 13)), _bools(g, (4, 13))),
        "broadcast": lambda g: (_ints()(g, (2, 3, 8)), _ints()(g, (8,))),
        "scalar": (lambda g: (_ints()(g, (3, 11)),), {"module": lambda: Lambda(lambda x: fn(x, 0x5A))}),
    }, inputs=2)


def _shifts(g: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randint(0, 8, shape, generator=g, dtype=torch.int32)


CASES = [
    *_binary("bitwise_and"),
    *_binary("bitwise_or"),
    *_binary("bitwise_xor"),
    *by_rank("bitwise_not", lambda: Lambda(torch.bitwise_not), _ints(), {
        "int8": lambda g: (_ints(-128, 128, torch.int8)(g, (3, 17)),),
        "bool": lambda g: (_bools(g, (4, 13)),),
    }),
    *op_cases("bitwise_left_shift", lambda: Lambda(torch.bitwise_left_shift), {
        "int32": (lambda g: (_ints(-1000, 1000)(g, (4, 16)), _shifts(g, (4, 16))), {"smoke": True}),
        "rank1": lambda g: (_ints()(g, (37,)), _shifts(g, (37,))),
        "rank3_broadcast_shift": lambda g: (_ints()(g, (2, 5, 11)), _shifts(g, (11,))),
        "rank6": lambda g: (_ints()(g, (1, 2, 2, 3, 2, 5)), _shifts(g, (1, 2, 2, 3, 2, 5))),
        "by_scalar": (lambda g: (_ints()(g, (3, 11)),), {"module": lambda: Lambda(lambda x: x << 3)}),
        "int8": lambda g: (_ints(-16, 16, torch.int8)(g, (3, 17)), torch.randint(0, 3, (3, 17), generator=g, dtype=torch.int8)),
    }),
    *op_cases("bitwise_right_shift", lambda: Lambda(torch.bitwise_right_shift), {
        "int32": (lambda g: (_ints(-100000, 100000)(g, (4, 16)), _shifts(g, (4, 16))), {"smoke": True}),
        "negative_arithmetic": lambda g: (_ints(-100000, 0)(g, (37,)), _shifts(g, (37,))),
        "rank3_broadcast_shift": lambda g: (_ints()(g, (2, 5, 11)), _shifts(g, (11,))),
        "rank6": lambda g: (_ints()(g, (1, 2, 2, 3, 2, 5)), _shifts(g, (1, 2, 2, 3, 2, 5))),
        "by_scalar": (lambda g: (_ints()(g, (3, 11)),), {"module": lambda: Lambda(lambda x: x >> 2)}),
        "int8": lambda g: (_ints(-128, 128, torch.int8)(g, (3, 17)), torch.randint(0, 8, (3, 17), generator=g, dtype=torch.int8)),
    }),
    *by_rank("logical_xor", lambda: Lambda(torch.logical_xor), _bools, {
        "floats_nonzero_true": lambda g: (torch.where(torch.rand(4, 16, generator=g) > 0.5, randn(g, 4, 16), torch.zeros(4, 16)),
                                          torch.where(torch.rand(4, 16, generator=g) > 0.5, randn(g, 4, 16), torch.zeros(4, 16))),
        "int32": lambda g: (_ints(-2, 3)(g, (3, 17)), _ints(-2, 3)(g, (3, 17))),
        "broadcast": lambda g: (_bools(g, (2, 3, 8)), _bools(g, (8,))),
    }, inputs=2),
]
