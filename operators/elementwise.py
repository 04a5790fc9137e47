"""Elementwise arithmetic: add, sub, mul.

Covers: same shapes, broadcasting (scalar-like, trailing, leading dims), ranks 1 to 5,
large magnitudes, zeros and negative zeros, an operand reused (x + x).
Not yet: integer dtypes, in-place variants, alpha != 1.
"""

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges

CASES = [
    *op_cases("add", lambda: Lambda(lambda x, y: x + y), {
        "4d_same": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"smoke": True}),
        "broadcast_channel": lambda g: (randn(g, 1, 4, 6, 6), randn(g, 1, 4, 1, 1)),
        "rank1": lambda g: (randn(g, 17), randn(g, 17)),
        "rank5": lambda g: (randn(g, 1, 2, 3, 4, 5), randn(g, 1, 2, 3, 4, 5)),
        "edges_large": lambda g: (with_edges(g, 2, 33, scale=100.0), with_edges(g, 2, 33, scale=100.0)),
        "self": lambda g: (randn(g, 2, 16),) * 2,
    }),
    *op_cases("sub", lambda: Lambda(lambda x, y: x - y), {
        "2d_same": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"smoke": True}),
        "broadcast_row": lambda g: (randn(g, 3, 5, 7), randn(g, 1, 1, 7)),
        "edges": lambda g: (with_edges(g, 1, 3, 9, 9), with_edges(g, 1, 3, 9, 9)),
    }),
    *op_cases("mul", lambda: Lambda(lambda x, y: x * y), {
        "3d_same": (lambda g: (randn(g, 2, 8, 8), randn(g, 2, 8, 8)), {"smoke": True}),
        "broadcast_one_element": lambda g: (randn(g, 1, 3, 7, 7), uniform(g, 1, low=-2, high=2)),
        "edges": lambda g: (with_edges(g, 4, 31), with_edges(g, 4, 31)),
        "rank4_prime": lambda g: (randn(g, 1, 5, 7, 11), randn(g, 1, 5, 7, 11)),
    }),
]
