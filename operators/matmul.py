"""Matrix products of two activations: matmul, mm, bmm, addmm, baddbmm, einsum.

Covers: rank 1 to 4 operands, broadcasting over batch dims, vector-matrix and
matrix-vector products, transposed operands (attention scores q @ k^T), prime and
singleton sizes, a long contraction, large magnitudes, alpha and beta != 1, a broadcast
bias, einsum for batched products, outer products, dot products and a contraction over
two indices. Every operand is an input, so quantized targets quantize both sides.
Linear layers (a constant weight) are in linear.py.
Not yet: integer matmul, a constant operand other than a linear weight, addmv, addbmm, chain_matmul.
"""

import torch

from etconform.cases import Lambda, op_cases, randn, with_edges


def _f(fn):
    """A module factory from a function of the inputs."""
    return lambda: Lambda(fn)


CASES = [
    *op_cases("matmul", _f(lambda a, b: a @ b), {
        "2d": (lambda g: (randn(g, 8, 16), randn(g, 16, 12)), {"smoke": True}),
        "batched_3d": lambda g: (randn(g, 2, 5, 8), randn(g, 2, 8, 6)),
        "broadcast_3d_2d": lambda g: (randn(g, 3, 7, 10), randn(g, 10, 4)),
        "broadcast_batch_dims_4d": lambda g: (randn(g, 2, 1, 4, 8), randn(g, 1, 3, 8, 5)),
        "attention_scores_qkt": (lambda g: (randn(g, 1, 2, 8, 16), randn(g, 1, 2, 8, 16)), {
            "module": _f(lambda q, k: q @ k.transpose(-2, -1)),
        }),
        "vector_matrix": lambda g: (randn(g, 12), randn(g, 12, 7)),
        "matrix_vector": lambda g: (randn(g, 5, 9), randn(g, 9)),
        "prime_edges_large": lambda g: (with_edges(g, 7, 13, scale=50.0), with_edges(g, 13, 11, scale=50.0)),
    }),
    *op_cases("mm", _f(torch.mm), {
        "square": (lambda g: (randn(g, 16, 16), randn(g, 16, 16)), {"smoke": True}),
        "prime_rect": lambda g: (randn(g, 7, 13), randn(g, 13, 5)),
        "row_times_matrix": lambda g: (randn(g, 1, 24), randn(g, 24, 10)),
        "long_contraction": lambda g: (randn(g, 4, 512, std=0.5), randn(g, 512, 3)),
        "column_output": lambda g: (randn(g, 9, 6, std=10.0), randn(g, 6, 1)),
    }),
    *op_cases("bmm", _f(torch.bmm), {
        "basic": (lambda g: (randn(g, 2, 8, 16), randn(g, 2, 16, 8)), {"smoke": True}),
        "prime": lambda g: (randn(g, 3, 5, 7), randn(g, 3, 7, 11)),
        "batch1": lambda g: (randn(g, 1, 12, 20), randn(g, 1, 20, 6)),
        "large_magnitude": lambda g: (randn(g, 4, 6, 6, std=30.0), randn(g, 4, 6, 6, std=30.0)),
        "singleton_rows": lambda g: (randn(g, 8, 1, 16), randn(g, 8, 16, 4)),
    }),
    *op_cases("addmm", _f(torch.addmm), {
        "basic": (lambda g: (randn(g, 8, 12), randn(g, 8, 16), randn(g, 16, 12)), {"smoke": True}),
        "bias_row_broadcast": lambda g: (randn(g, 10), randn(g, 4, 6), randn(g, 6, 10)),
        "alpha_beta": (lambda g: (randn(g, 5, 7), randn(g, 5, 3), randn(g, 3, 7)), {
            "module": _f(lambda c, a, b: torch.addmm(c, a, b, beta=0.5, alpha=2.0)),
        }),
        "beta_zero": (lambda g: (randn(g, 6, 6), randn(g, 6, 9), randn(g, 9, 6)), {
            "module": _f(lambda c, a, b: torch.addmm(c, a, b, beta=0.0)),
        }),
        "scalar_bias_prime": lambda g: (randn(g, 1), randn(g, 11, 13), randn(g, 13, 7)),
    }),
    *op_cases("baddbmm", _f(torch.baddbmm), {
        "basic": (lambda g: (randn(g, 2, 6, 8), randn(g, 2, 6, 10), randn(g, 2, 10, 8)), {"smoke": True}),
        "bias_broadcast": lambda g: (randn(g, 1, 1, 5), randn(g, 3, 4, 7), randn(g, 3, 7, 5)),
        "alpha_beta": (lambda g: (randn(g, 2, 5, 5), randn(g, 2, 5, 8), randn(g, 2, 8, 5)), {
            "module": _f(lambda c, a, b: torch.baddbmm(c, a, b, beta=2.0, alpha=0.125)),
        }),
        "large_magnitude": lambda g: (randn(g, 2, 4, 4, std=100.0), randn(g, 2, 4, 6, std=10.0), randn(g, 2, 6, 4, std=10.0)),
    }),
    *op_cases("einsum", None, {
        "batched_matmul": (lambda g: (randn(g, 2, 5, 8), randn(g, 2, 8, 6)), {
            "module": _f(lambda a, b: torch.einsum("bij,bjk->bik", a, b)), "smoke": True,
        }),
        "attention_bhqd_bhkd": (lambda g: (randn(g, 1, 2, 6, 8), randn(g, 1, 2, 7, 8)), {
            "module": _f(lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k)),
        }),
        "outer": (lambda g: (randn(g, 9), randn(g, 7)), {"module": _f(lambda a, b: torch.einsum("i,j->ij", a, b))}),
        "batch_dot": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"module": _f(lambda a, b: torch.einsum("bi,bi->b", a, b))}),
        "contract_two_dims": (lambda g: (randn(g, 3, 4, 5), randn(g, 4, 5, 6)), {
            "module": _f(lambda a, b: torch.einsum("ijk,jkl->il", a, b)),
        }),
    }),
]
