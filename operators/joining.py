"""Joining and splitting: cat, stack, split, chunk, unbind.

Covers: cat along each kind of axis with inputs of different ranges (so their quantization
differs), three inputs, the same input twice, ranks 1 and 5, a singleton dim, and between two
compute ops (`between_mul_add`); stack of two and three inputs of different ranges, on the
first, a middle and the last dim; one or several chunks of a split, chunk or unbind taken (the
pieces recombined into one output), uneven chunks, negative dims, ranks 1 to 5.
Not yet: multi-output cases (split returning every chunk), cat of inputs with integer dtypes,
cat with an empty input.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges
from operators._shapes import between_mul_add


def _recombine(*pieces: torch.Tensor) -> torch.Tensor:
    """Several chunks in one output: the chunks in reverse order, concatenated on their last dim."""
    return torch.cat(pieces[::-1], -1)


CASES = [
    *op_cases("cat", None, {
        "channels": (lambda g: (randn(g, 1, 3, 4, 4), randn(g, 1, 5, 4, 4)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 1)), "smoke": True}),
        "last_dim_ranges_differ": (lambda g: (randn(g, 2, 8), randn(g, 2, 8, std=10.0)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), -1))}),
        "three_inputs_dim0": (lambda g: (randn(g, 1, 6), randn(g, 2, 6), randn(g, 3, 6)), {"module": lambda: Lambda(lambda x, y, z: torch.cat((x, y, z), 0))}),
        "same_input_twice": (lambda g: (randn(g, 2, 3, 5),), {"module": lambda: Lambda(lambda x: torch.cat((x, x), 1))}),
        "rank1_prime": (lambda g: (randn(g, 7), randn(g, 13)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y)))}),
        "rank5_negative_dim": (lambda g: (randn(g, 1, 2, 3, 2, 4), randn(g, 1, 2, 3, 2, 3)),
                               {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), -1))}),
        "singleton_dim": (lambda g: (randn(g, 4, 1, 6), randn(g, 4, 1, 6)), {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 1))}),
        "large_and_small": (lambda g: (with_edges(g, 3, 8, scale=1000.0), randn(g, 3, 8, std=0.01)),
                            {"module": lambda: Lambda(lambda x, y: torch.cat((x, y), 0))}),
        "between_mul_add": (lambda g: (randn(g, 1, 2, 4, 4),), {"module": between_mul_add(lambda x: torch.cat((x, x * 3), 1))}),
    }),
    *op_cases("stack", None, {
        "two_dim0": (lambda g: (randn(g, 3, 8), randn(g, 3, 8)), {"module": lambda: Lambda(lambda x, y: torch.stack((x, y))), "smoke": True}),
        "three_last_dim": (lambda g: (randn(g, 2, 5), randn(g, 2, 5), randn(g, 2, 5)),
                           {"module": lambda: Lambda(lambda x, y, z: torch.stack((x, y, z), -1))}),
        "ranges_differ": (lambda g: (randn(g, 4, 16), randn(g, 4, 16, std=20.0)), {"module": lambda: Lambda(lambda x, y: torch.stack((x, y), 1))}),
        "rank4_middle": (lambda g: (randn(g, 1, 3, 5, 5), randn(g, 1, 3, 5, 5)), {"module": lambda: Lambda(lambda x, y: torch.stack((x, y), 2))}),
        "same_input_twice": (lambda g: (randn(g, 6, 7),), {"module": lambda: Lambda(lambda x: torch.stack((x, x), 0))}),
        "rank1_single": (lambda g: (randn(g, 29),), {"module": lambda: Lambda(lambda x: torch.stack((x,), 1))}),
    }),
    *op_cases("split", None, {
        "first_chunk": (lambda g: (randn(g, 1, 8, 4, 4),), {"module": lambda: Lambda(lambda x: torch.split(x, 4, 1)[0]), "smoke": True}),
        "last_uneven_chunk": (lambda g: (randn(g, 2, 11),), {"module": lambda: Lambda(lambda x: torch.split(x, 4, -1)[-1])}),
        "sizes_middle_chunk": (lambda g: (randn(g, 9, 5),), {"module": lambda: Lambda(lambda x: torch.split(x, [2, 3, 4], 0)[1])}),
        "all_chunks_recombined": (lambda g: (randn(g, 3, 12),), {"module": lambda: Lambda(lambda x: _recombine(*torch.split(x, 4, 1)))}),
        "two_chunks_multiplied": (lambda g: (randn(g, 1, 6, 5, 5),), {"module": lambda: Lambda(lambda x: torch.mul(*torch.split(x, 3, 1)))}),
        "negative_dim_rank5": (lambda g: (randn(g, 1, 2, 3, 4, 10),), {"module": lambda: Lambda(lambda x: torch.split(x, [3, 7], -1)[1])}),
    }),
    *op_cases("chunk", None, {
        "halves_first": (lambda g: (randn(g, 1, 8, 6),), {"module": lambda: Lambda(lambda x: x.chunk(2, 1)[0]), "smoke": True}),
        "uneven_last": (lambda g: (randn(g, 7, 4),), {"module": lambda: Lambda(lambda x: x.chunk(3, 0)[-1])}),
        "recombined": (lambda g: (randn(g, 2, 3, 9),), {"module": lambda: Lambda(lambda x: _recombine(*x.chunk(3, -1)))}),
        "glu_like_gate": (lambda g: (randn(g, 4, 16),), {"module": lambda: Lambda(lambda x: (lambda a, b: a * torch.sigmoid(b))(*x.chunk(2, -1)))}),
        "negative_dim_4d": (lambda g: (randn(g, 1, 3, 10, 5),), {"module": lambda: Lambda(lambda x: x.chunk(2, -2)[1])}),
    }),
    *op_cases("unbind", None, {
        "dim0_middle": (lambda g: (randn(g, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.unbind(0)[1]), "smoke": True}),
        "last_dim": (lambda g: (randn(g, 6, 2),), {"module": lambda: Lambda(lambda x: x.unbind(-1)[0])}),
        "recombined": (lambda g: (randn(g, 2, 3, 7),), {"module": lambda: Lambda(lambda x: _recombine(*x.unbind(1)))}),
        "parts_added": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: Lambda(lambda x: (lambda r, gr, b: r + gr - b)(*x.unbind(1)))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.unbind(3)[2])}),
    }),
]
