"""Distance functions: cosine_similarity, pairwise_distance.

Covers: cosine_similarity and pairwise_distance over each dim, with eps and p given or left
out, broadcasting, ranks 1 to 5, near-zero vectors against eps, keepdim.
Not yet: pdist, torch.cdist.
"""

import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn

CASES = [
    *op_cases("cosine_similarity", lambda: Lambda(F.cosine_similarity), {
        "default_dim1": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"smoke": True}),
        "last_dim_4d": (lambda g: (randn(g, 1, 3, 8, 8), randn(g, 1, 3, 8, 8)), {"module": lambda: Lambda(
            lambda a, b: F.cosine_similarity(a, b, dim=-1))}),
        "broadcast": lambda g: (randn(g, 5, 16), randn(g, 1, 16)),
        "eps_near_zero_vectors": (lambda g: (randn(g, 4, 8, std=1e-5), randn(g, 4, 8)), {"module": lambda: Lambda(
            lambda a, b: F.cosine_similarity(a, b, dim=1, eps=1e-4))}),
        "rank1_dim0": (lambda g: (randn(g, 37), randn(g, 37)), {"module": lambda: Lambda(lambda a, b: F.cosine_similarity(a, b, dim=0))}),
        "rank5": (lambda g: (randn(g, 1, 2, 3, 4, 5), randn(g, 1, 2, 3, 4, 5)), {"module": lambda: Lambda(
            lambda a, b: F.cosine_similarity(a, b, dim=2))}),
    }),
    *op_cases("pairwise_distance", lambda: Lambda(F.pairwise_distance), {
        "default_p2": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"smoke": True}),
        "p1": (lambda g: (randn(g, 4, 16), randn(g, 4, 16)), {"module": lambda: Lambda(lambda a, b: F.pairwise_distance(a, b, p=1.0))}),
        "keepdim": (lambda g: (randn(g, 3, 8), randn(g, 3, 8)), {"module": lambda: Lambda(
            lambda a, b: F.pairwise_distance(a, b, keepdim=True))}),
        "broadcast": lambda g: (randn(g, 5, 16), randn(g, 1, 16)),
        "rank3": lambda g: (randn(g, 2, 5, 11), randn(g, 2, 5, 11)),
    }),
]
