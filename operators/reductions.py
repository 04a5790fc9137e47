"""Reductions: mean.

Covers: mean over one axis and over spatial axes, keepdim on and off, a rank 1 input,
large offsets.
Not yet: sum, amax, amin, var, prod, argmax.
"""


from etconform.cases import Lambda, op_cases, randn

CASES = op_cases("mean", None, {
    "spatial_keepdim": (lambda g: (randn(g, 1, 8, 7, 7),), {"module": lambda: Lambda(lambda x: x.mean((2, 3), keepdim=True)), "smoke": True}),
    "last_dim": (lambda g: (randn(g, 3, 5, 20),), {"module": lambda: Lambda(lambda x: x.mean(-1))}),
    "rank1_offset": (lambda g: (randn(g, 50, mean=7.0),), {"module": lambda: Lambda(lambda x: x.mean(0, keepdim=True))}),
    "channels": (lambda g: (randn(g, 1, 16, 4, 4, std=4.0),), {"module": lambda: Lambda(lambda x: x.mean(1, keepdim=True))}),
})
