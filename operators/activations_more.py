"""Activations and softmax variants not covered elsewhere: celu, softshrink, tanhshrink, softmin.

Covers: each at ranks 1 to 6, celu with alpha left at 1 and given (0.5, 2), softshrink with
the default lambda and a larger one, inputs exactly at the shrink thresholds, tanhshrink of
large inputs (where it is x - 1), softmin over the first and last dims and a 1000-way one.
Not yet: rrelu (random in training), in-place variants.
"""

import torch

from etconform.cases import op_cases, randn, with_edges
from operators._shapes import by_rank

nn = torch.nn


def _normal(std: float):
    return lambda g, shape: randn(g, *shape, std=std)


CASES = [
    *by_rank("celu", lambda: nn.CELU(), _normal(3.0), {
        "alpha_0_5": (lambda g: (randn(g, 4, 33, std=3.0),), {"module": lambda: nn.CELU(alpha=0.5)}),
        "alpha_2_saturating": (lambda g: (randn(g, 2, 5, 11, std=10.0, mean=-8.0),), {"module": lambda: nn.CELU(alpha=2.0)}),
    }),
    *by_rank("softshrink", lambda: nn.Softshrink(), _normal(1.0), {
        "lambda_1_5": (lambda g: (randn(g, 4, 33, std=3.0),), {"module": lambda: nn.Softshrink(1.5)}),
        "at_thresholds": lambda g: (with_edges(g, 53, scale=1.0, edges=(0.5, -0.5, 0.0, -0.0)),),
    }),
    *by_rank("tanhshrink", lambda: nn.Tanhshrink(), _normal(2.0), {
        "large": lambda g: (randn(g, 3, 40, std=50.0),),
    }),
    *op_cases("softmin", lambda: nn.Softmin(dim=-1), {
        "last_dim": (lambda g: (randn(g, 2, 16, std=3.0),), {"smoke": True}),
        "first_dim": (lambda g: (randn(g, 5, 7),), {"module": lambda: nn.Softmin(dim=0)}),
        "1000_way": lambda g: (randn(g, 1, 1000, std=4.0),),
        "rank1": lambda g: (randn(g, 37),),
        "rank5_middle": (lambda g: (randn(g, 1, 2, 3, 4, 5),), {"module": lambda: nn.Softmin(dim=2)}),
        "rank6": lambda g: (randn(g, 1, 2, 2, 3, 2, 5),),
    }),
]
