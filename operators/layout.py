"""Layout: view, flatten, squeeze, unsqueeze, transpose, t, expand, repeat, tile, stack,
split, chunk, unbind, flip, roll, narrow, contiguous, movedim, pixel_shuffle, pixel_unshuffle.

Covers: ranks 1 to 5, odd and prime sizes, singleton dims, negative dims, inputs of
different ranges (stack), one or several chunks of a split taken (the pieces recombined
into one output), broadcasting through expand; each op alone (a lone layout op is often
not delegated: that is a finding) and between two compute ops (`between_mul_add`:
`x * 2`, the op, `+ 1`) so delegation inside a graph is probed too.
Not yet: multi-output cases (split returning every chunk), view_as, unflatten, as_strided,
channels_last memory format, integer and bool inputs.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn, with_edges


def between_mul_add(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], torch.nn.Module]:
    """A module factory: `fn(x * 2) + 1`, the layout op between two compute ops."""
    return lambda: Lambda(lambda x: fn(x * 2) + 1)


def _recombine(*pieces: torch.Tensor) -> torch.Tensor:
    """Several chunks in one output: the chunks in reverse order, concatenated on their last dim."""
    return torch.cat(pieces[::-1], -1)


CASES = [
    *op_cases("view", None, {
        "flatten_hw": (lambda g: (randn(g, 1, 4, 5, 5),), {"module": lambda: Lambda(lambda x: x.view(1, 4, 25)), "smoke": True}),
        "rank1_to_4d": (lambda g: (randn(g, 60),), {"module": lambda: Lambda(lambda x: x.view(1, 3, 4, 5))}),
        "infer_middle": (lambda g: (randn(g, 2, 3, 7),), {"module": lambda: Lambda(lambda x: x.view(2, -1, 1))}),
        "rank5_prime": (lambda g: (randn(g, 1, 2, 3, 5, 7),), {"module": lambda: Lambda(lambda x: x.view(6, 35))}),
        "between_mul_add": (lambda g: (randn(g, 2, 12),), {"module": between_mul_add(lambda x: x.view(2, 3, 4))}),
    }),
    *op_cases("flatten", None, {
        "from_dim1": (lambda g: (randn(g, 1, 3, 4, 4),), {"module": lambda: Lambda(lambda x: torch.flatten(x, 1)), "smoke": True}),
        "all_rank5": (lambda g: (randn(g, 1, 2, 3, 2, 5),), {"module": lambda: Lambda(lambda x: torch.flatten(x))}),
        "middle_dims": (lambda g: (randn(g, 2, 3, 5, 7),), {"module": lambda: Lambda(lambda x: torch.flatten(x, 1, 2))}),
        "negative_start": (lambda g: (randn(g, 2, 3, 4, 6),), {"module": lambda: Lambda(lambda x: torch.flatten(x, -2))}),
        "between_mul_add": (lambda g: (randn(g, 1, 8, 3, 3),), {"module": between_mul_add(lambda x: torch.flatten(x, 1))}),
    }),
    *op_cases("squeeze", None, {
        "dim0": (lambda g: (randn(g, 1, 6, 7),), {"module": lambda: Lambda(lambda x: x.squeeze(0)), "smoke": True}),
        "all_singletons_rank5": (lambda g: (randn(g, 1, 3, 1, 5, 1),), {"module": lambda: Lambda(lambda x: x.squeeze())}),
        "negative_dim": (lambda g: (randn(g, 4, 9, 1),), {"module": lambda: Lambda(lambda x: x.squeeze(-1))}),
        "dims_pair": (lambda g: (randn(g, 1, 5, 1, 11),), {"module": lambda: Lambda(lambda x: x.squeeze((0, 2)))}),
        "between_mul_add": (lambda g: (randn(g, 2, 1, 16),), {"module": between_mul_add(lambda x: x.squeeze(1))}),
    }),
    *op_cases("unsqueeze", None, {
        "dim0": (lambda g: (randn(g, 6, 7),), {"module": lambda: Lambda(lambda x: x.unsqueeze(0)), "smoke": True}),
        "last_negative": (lambda g: (randn(g, 3, 13),), {"module": lambda: Lambda(lambda x: x.unsqueeze(-1))}),
        "rank1_middle_twice": (lambda g: (randn(g, 23),), {"module": lambda: Lambda(lambda x: x.unsqueeze(0).unsqueeze(1))}),
        "rank4_to_5": (lambda g: (randn(g, 1, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.unsqueeze(2))}),
        "between_mul_add": (lambda g: (randn(g, 4, 10),), {"module": between_mul_add(lambda x: x.unsqueeze(1))}),
    }),
    *op_cases("transpose", None, {
        "dims_1_2": (lambda g: (randn(g, 2, 5, 7),), {"module": lambda: Lambda(lambda x: x.transpose(1, 2)), "smoke": True}),
        "negative_dims": (lambda g: (randn(g, 1, 3, 6, 9),), {"module": lambda: Lambda(lambda x: x.transpose(-1, -2))}),
        "outer_dims_4d": (lambda g: (randn(g, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.transpose(0, 3))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.transpose(1, 4))}),
        "large_values": (lambda g: (with_edges(g, 8, 12, scale=1000.0),), {"module": lambda: Lambda(lambda x: x.transpose(0, 1))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 8),), {"module": between_mul_add(lambda x: x.transpose(1, 2))}),
    }),
    *op_cases("t", lambda: Lambda(lambda x: x.t()), {
        "square": (lambda g: (randn(g, 8, 8),), {"smoke": True}),
        "prime": lambda g: (randn(g, 7, 13),),
        "single_row": lambda g: (randn(g, 1, 31),),
        "rank1": lambda g: (randn(g, 19),),
        "between_mul_add": (lambda g: (randn(g, 5, 12),), {"module": between_mul_add(lambda x: x.t())}),
    }),
    *op_cases("expand", None, {
        "singleton_dims": (lambda g: (randn(g, 1, 4, 1),), {"module": lambda: Lambda(lambda x: x.expand(3, 4, 5)), "smoke": True}),
        "keep_with_minus1": (lambda g: (randn(g, 2, 1, 7),), {"module": lambda: Lambda(lambda x: x.expand(-1, 6, -1))}),
        "new_leading_dims": (lambda g: (randn(g, 5, 1),), {"module": lambda: Lambda(lambda x: x.expand(2, 3, 5, 4))}),
        "rank1_to_2d": (lambda g: (randn(g, 17),), {"module": lambda: Lambda(lambda x: x.expand(4, 17))}),
        "then_add_broadcast": (lambda g: (randn(g, 1, 3, 1, 1), randn(g, 1, 3, 6, 6)),
                               {"module": lambda: Lambda(lambda x, y: x.expand(1, 3, 6, 6) + y)}),
        "between_mul_add": (lambda g: (randn(g, 1, 8),), {"module": between_mul_add(lambda x: x.expand(5, 8))}),
    }),
    *op_cases("repeat", None, {
        "rows": (lambda g: (randn(g, 3, 8),), {"module": lambda: Lambda(lambda x: x.repeat(2, 1)), "smoke": True}),
        "channels_4d": (lambda g: (randn(g, 1, 2, 5, 5),), {"module": lambda: Lambda(lambda x: x.repeat(1, 3, 1, 1))}),
        "new_leading_dim": (lambda g: (randn(g, 4, 7),), {"module": lambda: Lambda(lambda x: x.repeat(2, 1, 3))}),
        "rank1_prime": (lambda g: (randn(g, 11),), {"module": lambda: Lambda(lambda x: x.repeat(5))}),
        "all_dims_3d": (lambda g: (randn(g, 2, 3, 5),), {"module": lambda: Lambda(lambda x: x.repeat(2, 2, 2))}),
        "between_mul_add": (lambda g: (randn(g, 2, 6),), {"module": between_mul_add(lambda x: x.repeat(1, 3))}),
    }),
    *op_cases("tile", None, {
        "rank1": (lambda g: (randn(g, 13),), {"module": lambda: Lambda(lambda x: torch.tile(x, (3,))), "smoke": True}),
        "2d": (lambda g: (randn(g, 3, 5),), {"module": lambda: Lambda(lambda x: torch.tile(x, (2, 3)))}),
        "fewer_reps_than_dims": (lambda g: (randn(g, 1, 2, 3, 4),), {"module": lambda: Lambda(lambda x: torch.tile(x, (2,)))}),
        "more_reps_than_dims": (lambda g: (randn(g, 4, 6),), {"module": lambda: Lambda(lambda x: torch.tile(x, (2, 1, 2)))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": between_mul_add(lambda x: torch.tile(x, (1, 1, 2, 2)))}),
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
    *op_cases("flip", None, {
        "last_dim": (lambda g: (randn(g, 3, 10),), {"module": lambda: Lambda(lambda x: torch.flip(x, (-1,))), "smoke": True}),
        "hw": (lambda g: (randn(g, 1, 2, 5, 7),), {"module": lambda: Lambda(lambda x: torch.flip(x, (2, 3)))}),
        "all_dims_3d": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: torch.flip(x, (0, 1, 2)))}),
        "rank1_prime": (lambda g: (randn(g, 37),), {"module": lambda: Lambda(lambda x: torch.flip(x, (0,)))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 6),), {"module": between_mul_add(lambda x: torch.flip(x, (1,)))}),
    }),
    *op_cases("roll", None, {
        "last_dim_1": (lambda g: (randn(g, 4, 9),), {"module": lambda: Lambda(lambda x: torch.roll(x, 1, -1)), "smoke": True}),
        "negative_shift": (lambda g: (randn(g, 2, 3, 8),), {"module": lambda: Lambda(lambda x: torch.roll(x, -3, 2))}),
        "two_dims": (lambda g: (randn(g, 1, 2, 5, 7),), {"module": lambda: Lambda(lambda x: torch.roll(x, (2, 3), (2, 3)))}),
        "flattened": (lambda g: (randn(g, 3, 5),), {"module": lambda: Lambda(lambda x: torch.roll(x, 4))}),
        "shift_beyond_size": (lambda g: (randn(g, 2, 6),), {"module": lambda: Lambda(lambda x: torch.roll(x, 8, 1))}),
    }),
    *op_cases("narrow", None, {
        "dim1": (lambda g: (randn(g, 2, 10, 3),), {"module": lambda: Lambda(lambda x: x.narrow(1, 2, 5)), "smoke": True}),
        "negative_dim": (lambda g: (randn(g, 3, 11),), {"module": lambda: Lambda(lambda x: x.narrow(-1, 0, 10))}),
        "single_element": (lambda g: (randn(g, 7, 6),), {"module": lambda: Lambda(lambda x: x.narrow(0, 6, 1))}),
        "rank5": (lambda g: (randn(g, 1, 2, 6, 3, 4),), {"module": lambda: Lambda(lambda x: x.narrow(2, 1, 3))}),
        "between_mul_add": (lambda g: (randn(g, 4, 12),), {"module": between_mul_add(lambda x: x.narrow(1, 3, 6))}),
    }),
    *op_cases("contiguous", None, {
        "after_permute": (lambda g: (randn(g, 1, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1).contiguous()), "smoke": True}),
        "after_transpose_then_view": (lambda g: (randn(g, 2, 6, 4),), {"module": lambda: Lambda(lambda x: x.transpose(1, 2).contiguous().view(2, 24))}),
        "after_expand": (lambda g: (randn(g, 1, 7),), {"module": lambda: Lambda(lambda x: x.expand(3, 7).contiguous())}),
        "rank5_after_permute": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.permute(0, 4, 1, 3, 2).contiguous())}),
        "between_mul_add": (lambda g: (randn(g, 3, 8),), {"module": between_mul_add(lambda x: x.t().contiguous())}),
    }),
    *op_cases("movedim", None, {
        "channels_last": (lambda g: (randn(g, 1, 3, 5, 6),), {"module": lambda: Lambda(lambda x: torch.movedim(x, 1, -1)), "smoke": True}),
        "last_to_first": (lambda g: (randn(g, 2, 4, 7),), {"module": lambda: Lambda(lambda x: torch.movedim(x, -1, 0))}),
        "two_dims": (lambda g: (randn(g, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: torch.movedim(x, (0, 1), (2, 3)))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: torch.movedim(x, 3, 1))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": between_mul_add(lambda x: torch.movedim(x, 1, 3))}),
    }),
    *op_cases("pixel_shuffle", None, {
        "r2": (lambda g: (randn(g, 1, 4, 4, 4),), {"module": lambda: torch.nn.PixelShuffle(2), "smoke": True}),
        "r3_odd": (lambda g: (randn(g, 1, 9, 3, 5),), {"module": lambda: torch.nn.PixelShuffle(3)}),
        "r2_several_out_channels": (lambda g: (randn(g, 2, 12, 5, 3),), {"module": lambda: torch.nn.PixelShuffle(2)}),
        "large_values": (lambda g: (with_edges(g, 1, 8, 3, 3, scale=500.0),), {"module": lambda: torch.nn.PixelShuffle(2)}),
        "between_mul_add": (lambda g: (randn(g, 1, 8, 4, 4),), {"module": between_mul_add(lambda x: F.pixel_shuffle(x, 2))}),
    }),
    *op_cases("pixel_unshuffle", None, {
        "r2": (lambda g: (randn(g, 1, 2, 8, 8),), {"module": lambda: torch.nn.PixelUnshuffle(2), "smoke": True}),
        "r3_odd": (lambda g: (randn(g, 1, 3, 9, 6),), {"module": lambda: torch.nn.PixelUnshuffle(3)}),
        "batch2": (lambda g: (randn(g, 2, 1, 6, 10),), {"module": lambda: torch.nn.PixelUnshuffle(2)}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 4, 6),), {"module": between_mul_add(lambda x: F.pixel_unshuffle(x, 2))}),
        "round_trip": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: Lambda(lambda x: F.pixel_shuffle(F.pixel_unshuffle(x, 3), 3))}),
    }),
]
