"""Dynamic shapes: each case is exported with torch.export.Dim bounds, lowered once, and run
at the export size and at two more sizes in the range (one at or near each bound).

Covers: elementwise ops with a dynamic batch and sequence (one input, two sharing a dim, a
broadcast), conv2d and depthwise conv2d with dynamic height and width (odd sizes too) and a
dynamic batch, linear with a dynamic batch and sequence, matmul and bmm with a dynamic
sequence, softmax over a dynamic axis and along one, layer_norm with a dynamic sequence, cat
along and beside a dynamic dim (two dims), max, average and global pooling with dynamic
height and width, a mean over a dynamic axis, embedding with a dynamic number of ids.
Not yet: OPT-125M with a dynamic sequence length, dynamic rank-5 inputs, data-dependent sizes.
"""

from collections.abc import Callable
from typing import Any

import torch

from etconform.cases import Case, Lambda, randn

nn = torch.nn
Shapes = list[tuple[int, ...]]


def _factory(shapes: Shapes, ids: dict[int, int] | None = None) -> Callable[[torch.Generator], tuple[torch.Tensor, ...]]:
    """Seeded inputs of these shapes; input i an int64 id tensor below ids[i] when given."""
    def make(g: torch.Generator) -> tuple[torch.Tensor, ...]:
        return tuple(torch.randint(0, ids[i], shape, generator=g) if ids and i in ids else randn(g, *shape)
                     for i, shape in enumerate(shapes))
    return make


def dynamic(subject: str, variant: str, module: Callable[[], nn.Module], sizes: list[Shapes],
            dims: dict[int, dict[int, tuple[str, int, int]]], ids: dict[int, int] | None = None, **options: Any) -> Case:
    """sizes[0] is exported; every size in sizes is run. dims: {input: {dim: (name, min, max)}}."""
    for shapes in sizes:  # a case whose sizes leave its own range is the suite's bug: say so at import
        for i, spec in dims.items():
            for d, (name, low, high) in spec.items():
                if not low <= shapes[i][d] <= high:
                    raise ValueError(f"{subject}-{variant}: input {i} dim {d} = {shapes[i][d]} outside {name} [{low}, {high}]")
    return Case(subject, f"dynamic_{variant}", module, _factory(sizes[0], ids), dynamic=dims,
                resized=tuple(_factory(s, ids) for s in sizes[1:]), **options)


SEQ = ("seq", 2, 128)
BATCH = ("batch", 1, 8)
H, W = ("h", 4, 64), ("w", 4, 64)

CASES = [
    dynamic("relu", "batch_seq", lambda: nn.ReLU(), [[(2, 16, 16)], [(1, 5, 16)], [(8, 128, 16)]],
            {0: {0: BATCH, 1: SEQ}}),
    dynamic("add", "seq_shared", lambda: Lambda(torch.add), [[(1, 16, 32)] * 2, [(1, 3, 32)] * 2, [(1, 128, 32)] * 2],
            {0: {1: SEQ}, 1: {1: SEQ}}),
    dynamic("mul", "batch_broadcast", lambda: Lambda(torch.mul), [[(4, 16), (16,)], [(1, 16), (16,)], [(8, 16), (16,)]],
            {0: {0: BATCH}}),
    dynamic("sigmoid", "width", lambda: nn.Sigmoid(), [[(1, 64)], [(1, 8)], [(1, 1024)]], {0: {1: ("n", 8, 1024)}}),
    dynamic("gelu", "seq", lambda: nn.GELU(), [[(1, 16, 64)], [(1, 2, 64)], [(1, 100, 64)]], {0: {1: SEQ}}),
    dynamic("conv2d", "hw", lambda: nn.Conv2d(3, 8, 3, padding=1), [[(1, 3, 16, 16)], [(1, 3, 9, 23)], [(1, 3, 64, 48)]],
            {0: {2: H, 3: W}}),
    dynamic("conv2d", "batch", lambda: nn.Conv2d(3, 8, 3), [[(2, 3, 12, 12)], [(1, 3, 12, 12)], [(8, 3, 12, 12)]],
            {0: {0: BATCH}}),
    dynamic("depthwise_conv2d", "hw", lambda: nn.Conv2d(8, 8, 3, padding=1, groups=8),
            [[(1, 8, 16, 16)], [(1, 8, 4, 4)], [(1, 8, 33, 17)]], {0: {2: H, 3: W}}),
    dynamic("linear", "batch", lambda: nn.Linear(32, 16), [[(4, 32)], [(1, 32)], [(8, 32)]], {0: {0: BATCH}}),
    dynamic("linear", "seq", lambda: nn.Linear(64, 32), [[(1, 16, 64)], [(1, 2, 64)], [(1, 128, 64)]], {0: {1: SEQ}}),
    dynamic("matmul", "seq", lambda: Lambda(torch.matmul), [[(1, 16, 32), (32, 16)], [(1, 3, 32), (32, 16)],
                                                            [(1, 77, 32), (32, 16)]], {0: {1: SEQ}}),
    dynamic("bmm", "seq_scores", lambda: Lambda(lambda q, k: torch.bmm(q, k.transpose(1, 2))),
            [[(2, 16, 8), (2, 16, 8)], [(2, 2, 8), (2, 2, 8)], [(2, 64, 8), (2, 64, 8)]],
            {0: {1: ("seq", 2, 64)}, 1: {1: ("seq", 2, 64)}}),
    dynamic("softmax", "over_dynamic_dim", lambda: nn.Softmax(dim=-1), [[(2, 64)], [(2, 8)], [(2, 1000)]],
            {0: {1: ("n", 8, 1000)}}),
    dynamic("softmax", "along_dynamic_seq", lambda: nn.Softmax(dim=-1), [[(1, 16, 64)], [(1, 2, 64)], [(1, 128, 64)]],
            {0: {1: SEQ}}),
    dynamic("layer_norm", "seq", lambda: nn.LayerNorm(64), [[(1, 16, 64)], [(1, 2, 64)], [(1, 128, 64)]], {0: {1: SEQ}}),
    dynamic("cat", "beside_dynamic_seq", lambda: Lambda(lambda x, y: torch.cat([x, y], dim=-1)),
            [[(1, 16, 8), (1, 16, 8)], [(1, 2, 8), (1, 2, 8)], [(1, 100, 8), (1, 100, 8)]],
            {0: {1: SEQ}, 1: {1: SEQ}}),
    dynamic("cat", "along_two_dynamic_dims", lambda: Lambda(lambda x, y: torch.cat([x, y], dim=1)),
            [[(1, 16, 8), (1, 8, 8)], [(1, 2, 8), (1, 30, 8)], [(1, 64, 8), (1, 2, 8)]],
            {0: {1: ("s", 2, 64)}, 1: {1: ("t", 2, 32)}}),
    dynamic("max_pool2d", "hw", lambda: nn.MaxPool2d(2), [[(1, 4, 16, 16)], [(1, 4, 4, 6)], [(1, 4, 64, 30)]],
            {0: {2: H, 3: W}}),
    dynamic("avg_pool2d", "hw", lambda: nn.AvgPool2d(2), [[(1, 4, 16, 16)], [(1, 4, 6, 4)], [(1, 4, 30, 64)]],
            {0: {2: H, 3: W}}),
    dynamic("adaptive_avg_pool2d", "global_hw", lambda: nn.AdaptiveAvgPool2d(1), [[(1, 8, 16, 16)], [(1, 8, 4, 4)],
                                                                                 [(1, 8, 64, 40)]], {0: {2: H, 3: W}}),
    dynamic("mean", "over_dynamic_seq", lambda: Lambda(lambda x: x.mean(dim=1)), [[(1, 16, 32)], [(1, 2, 32)], [(1, 128, 32)]],
            {0: {1: SEQ}}),
    dynamic("embedding", "seq_ids", lambda: nn.Embedding(100, 16), [[(1, 16)], [(1, 2)], [(1, 128)]], {0: {1: SEQ}},
            ids={0: 100}),
]
