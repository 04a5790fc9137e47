"""Shape and layout: view, reshape, flatten, unflatten, squeeze, unsqueeze, permute, transpose, t,
expand, repeat, repeat_interleave, tile, movedim, contiguous, flip, roll.

Covers: ranks 1 to 5 (unflatten and repeat_interleave: 6), odd and prime sizes, singleton
dims, negative dims; reshape that flattens, splits, changes rank, adds and drops singleton
dims; permute to NHWC and back, a full reversal, ranks 2 and 5; broadcasting through expand;
repeat_interleave by an int and a tensor of repeats and on several dims (the GQA expansion);
unflatten of the first, a middle and the last dim (with -1); each op alone (a lone layout op
is often not delegated: that is a finding) and, for most, between two compute ops
(`between_mul_add`: `x * 2`, the op, `+ 1`) so delegation inside a graph is probed too.
Joining and splitting are in joining.py, slicing, gathering and scattering in indexing.py,
padding in padding.py, resizing and pixel shuffles in vision.py.
Not yet: view_as, as_strided, channels_last memory format, integer and bool inputs.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges
from operators._shapes import between_mul_add

CASES = [
    *op_cases("view", None, {
        "flatten_hw": (lambda g: (randn(g, 1, 4, 5, 5),), {"module": lambda: Lambda(lambda x: x.view(1, 4, 25)), "smoke": True}),
        "rank1_to_4d": (lambda g: (randn(g, 60),), {"module": lambda: Lambda(lambda x: x.view(1, 3, 4, 5))}),
        "infer_middle": (lambda g: (randn(g, 2, 3, 7),), {"module": lambda: Lambda(lambda x: x.view(2, -1, 1))}),
        "rank5_prime": (lambda g: (randn(g, 1, 2, 3, 5, 7),), {"module": lambda: Lambda(lambda x: x.view(6, 35))}),
        "between_mul_add": (lambda g: (randn(g, 2, 12),), {"module": between_mul_add(lambda x: x.view(2, 3, 4))}),
    }),
    *op_cases("reshape", None, {
        "flatten": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": lambda: Lambda(lambda x: x.reshape(1, -1)), "smoke": True}),
        "split_dim": (lambda g: (randn(g, 2, 24),), {"module": lambda: Lambda(lambda x: x.reshape(2, 4, 6))}),
        "rank5": (lambda g: (randn(g, 4, 30),), {"module": lambda: Lambda(lambda x: x.reshape(1, 2, 2, 5, 6))}),
        "rank1_prime_to_2d": (lambda g: (randn(g, 91),), {"module": lambda: Lambda(lambda x: x.reshape(7, 13))}),
        "add_singletons": (lambda g: (randn(g, 3, 8),), {"module": lambda: Lambda(lambda x: x.reshape(1, 3, 1, 8, 1))}),
        "drop_singletons": (lambda g: (randn(g, 1, 5, 1, 7),), {"module": lambda: Lambda(lambda x: x.reshape(5, 7))}),
        "infer_middle": (lambda g: (randn(g, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.reshape(2, -1, 5))}),
        "between_mul_add": (lambda g: (randn(g, 1, 6, 4, 4),), {"module": between_mul_add(lambda x: x.reshape(1, 6, 16))}),
    }),
    *op_cases("flatten", None, {
        "from_dim1": (lambda g: (randn(g, 1, 3, 4, 4),), {"module": lambda: Lambda(lambda x: torch.flatten(x, 1)), "smoke": True}),
        "all_rank5": (lambda g: (randn(g, 1, 2, 3, 2, 5),), {"module": lambda: Lambda(lambda x: torch.flatten(x))}),
        "middle_dims": (lambda g: (randn(g, 2, 3, 5, 7),), {"module": lambda: Lambda(lambda x: torch.flatten(x, 1, 2))}),
        "negative_start": (lambda g: (randn(g, 2, 3, 4, 6),), {"module": lambda: Lambda(lambda x: torch.flatten(x, -2))}),
        "between_mul_add": (lambda g: (randn(g, 1, 8, 3, 3),), {"module": between_mul_add(lambda x: torch.flatten(x, 1))}),
    }),
    *op_cases("unflatten", None, {
        "last_dim": (lambda g: (randn(g, 2, 24),), {"module": lambda: Lambda(lambda x: x.unflatten(-1, (4, 6))), "smoke": True}),
        "first_dim": (lambda g: (randn(g, 12, 5),), {"module": lambda: Lambda(lambda x: x.unflatten(0, (3, 4)) * 2)}),
        "middle_with_minus_1": (lambda g: (randn(g, 2, 32, 3),), {"module": lambda: Lambda(lambda x: x.unflatten(1, (-1, 8)) + 1)}),
        "heads_split": (lambda g: (randn(g, 1, 10, 64),), {"module": lambda: Lambda(lambda x: x.unflatten(-1, (4, 16)).transpose(1, 2))}),
        "to_rank6": (lambda g: (randn(g, 2, 60),), {"module": lambda: Lambda(lambda x: x.unflatten(1, (2, 3, 2, 5)) - 1)}),
        "rank1": (lambda g: (randn(g, 36),), {"module": lambda: Lambda(lambda x: x.unflatten(0, (6, 6)).sum(0))}),
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
    *op_cases("permute", None, {
        "nchw_to_nhwc": (lambda g: (randn(g, 1, 3, 5, 7),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1)), "smoke": True}),
        "reverse_3d": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.permute(2, 1, 0))}),
        "swap_last_two_4d": (lambda g: (randn(g, 1, 2, 6, 9),), {"module": lambda: Lambda(lambda x: x.permute(0, 1, 3, 2))}),
        "nhwc_to_nchw": (lambda g: (randn(g, 1, 5, 7, 3),), {"module": lambda: Lambda(lambda x: x.permute(0, 3, 1, 2))}),
        "rank2": (lambda g: (randn(g, 6, 11),), {"module": lambda: Lambda(lambda x: x.permute(1, 0))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.permute(0, 3, 1, 4, 2))}),
        "negative_dims": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.permute(-1, -3, -2))}),
        "batch2_large": (lambda g: (with_edges(g, 2, 3, 4, 4, scale=500.0),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 5),), {"module": between_mul_add(lambda x: x.permute(0, 2, 3, 1))}),
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
    *op_cases("repeat_interleave", lambda: Lambda(lambda x: torch.repeat_interleave(x, 2)), {
        "flattened_default": (lambda g: (randn(g, 3, 5),), {"smoke": True}),
        "dim0": (lambda g: (randn(g, 3, 5),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(3, dim=0))}),
        "gqa_heads_dim1": (lambda g: (randn(g, 1, 2, 8, 16),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(4, dim=1))}),
        "last_dim": (lambda g: (randn(g, 2, 3, 4),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(2, dim=-1))}),
        "repeats_per_row": (lambda g: (randn(g, 4, 6),), {"module": lambda: Lambda(
            lambda x: x.repeat_interleave(torch.tensor([1, 2, 0, 3]), dim=0, output_size=6))}),
        "rank6": (lambda g: (randn(g, 1, 2, 2, 3, 2, 5),), {"module": lambda: Lambda(lambda x: x.repeat_interleave(2, dim=3))}),
        "rank1": lambda g: (randn(g, 37),),
    }),
    *op_cases("tile", None, {
        "rank1": (lambda g: (randn(g, 13),), {"module": lambda: Lambda(lambda x: torch.tile(x, (3,))), "smoke": True}),
        "2d": (lambda g: (randn(g, 3, 5),), {"module": lambda: Lambda(lambda x: torch.tile(x, (2, 3)))}),
        "fewer_reps_than_dims": (lambda g: (randn(g, 1, 2, 3, 4),), {"module": lambda: Lambda(lambda x: torch.tile(x, (2,)))}),
        "more_reps_than_dims": (lambda g: (randn(g, 4, 6),), {"module": lambda: Lambda(lambda x: torch.tile(x, (2, 1, 2)))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": between_mul_add(lambda x: torch.tile(x, (1, 1, 2, 2)))}),
    }),
    *op_cases("movedim", None, {
        "channels_last": (lambda g: (randn(g, 1, 3, 5, 6),), {"module": lambda: Lambda(lambda x: torch.movedim(x, 1, -1)), "smoke": True}),
        "last_to_first": (lambda g: (randn(g, 2, 4, 7),), {"module": lambda: Lambda(lambda x: torch.movedim(x, -1, 0))}),
        "two_dims": (lambda g: (randn(g, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: torch.movedim(x, (0, 1), (2, 3)))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: torch.movedim(x, 3, 1))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 3, 3),), {"module": between_mul_add(lambda x: torch.movedim(x, 1, 3))}),
    }),
    *op_cases("contiguous", None, {
        "after_permute": (lambda g: (randn(g, 1, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.permute(0, 2, 3, 1).contiguous()), "smoke": True}),
        "after_transpose_then_view": (lambda g: (randn(g, 2, 6, 4),), {"module": lambda: Lambda(lambda x: x.transpose(1, 2).contiguous().view(2, 24))}),
        "after_expand": (lambda g: (randn(g, 1, 7),), {"module": lambda: Lambda(lambda x: x.expand(3, 7).contiguous())}),
        "rank5_after_permute": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: Lambda(lambda x: x.permute(0, 4, 1, 3, 2).contiguous())}),
        "between_mul_add": (lambda g: (randn(g, 3, 8),), {"module": between_mul_add(lambda x: x.t().contiguous())}),
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
]
