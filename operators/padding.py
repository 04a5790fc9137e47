"""Padding: constant_pad_nd, reflection_pad2d, replication_pad2d.

Covers: constant, reflection and replication padding, asymmetric, one-sided and negative (a
crop), of 1-D to 4-D inputs.
Not yet: circular padding, 3-D pads.
"""

import torch
import torch.nn.functional as F

from etconform.cases import Lambda, op_cases, randn, uniform, with_edges
from operators._shapes import between_mul_add

CASES = [
    *op_cases("constant_pad_nd", None, {
        "last_dim_zero": (lambda g: (randn(g, 2, 3, 7),), {"module": lambda: Lambda(lambda x: F.pad(x, (1, 2))), "smoke": True}),
        "hw_value": (lambda g: (randn(g, 1, 3, 5, 5),), {"module": lambda: Lambda(lambda x: F.pad(x, (1, 1, 2, 2), value=0.5))}),
        "value_outside_range": (lambda g: (uniform(g, 1, 2, 4, 4),), {"module": lambda: Lambda(lambda x: F.pad(x, (2, 0, 0, 2), value=-8.0))}),
        "channels": (lambda g: (randn(g, 1, 3, 4, 4),), {"module": lambda: Lambda(lambda x: F.pad(x, (0, 0, 0, 0, 1, 2)))}),
        "rank1": (lambda g: (randn(g, 13),), {"module": lambda: Lambda(lambda x: F.pad(x, (3, 4), value=1.0))}),
        "negative_crop": (lambda g: (randn(g, 1, 2, 8, 8),), {"module": lambda: Lambda(lambda x: F.pad(x, (-1, -2, 1, 0)))}),
        "between_mul_add": (lambda g: (randn(g, 1, 4, 6, 6),), {"module": between_mul_add(lambda x: F.pad(x, (1, 1, 1, 1)))}),
    }),
    *op_cases("reflection_pad2d", None, {
        "1px": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: torch.nn.ReflectionPad2d(1), "smoke": True}),
        "asymmetric": (lambda g: (randn(g, 1, 2, 5, 7),), {"module": lambda: torch.nn.ReflectionPad2d((0, 3, 2, 1))}),
        "max_pad_3d_input": (lambda g: (randn(g, 2, 4, 4),), {"module": lambda: torch.nn.ReflectionPad2d(3)}),
        "large_values": (lambda g: (with_edges(g, 1, 2, 5, 5, scale=1000.0),), {"module": lambda: torch.nn.ReflectionPad2d(2)}),
        "then_conv3x3": (lambda g: (randn(g, 1, 3, 8, 8),),
                         {"module": lambda: torch.nn.Sequential(torch.nn.ReflectionPad2d(1), torch.nn.Conv2d(3, 4, 3))}),
    }),
    *op_cases("replication_pad2d", None, {
        "1px": (lambda g: (randn(g, 1, 3, 6, 6),), {"module": lambda: torch.nn.ReplicationPad2d(1), "smoke": True}),
        "asymmetric": (lambda g: (randn(g, 1, 2, 5, 7),), {"module": lambda: torch.nn.ReplicationPad2d((3, 0, 1, 4))}),
        "wider_than_input": (lambda g: (randn(g, 1, 1, 2, 3),), {"module": lambda: torch.nn.ReplicationPad2d(5)}),
        "3d_input": (lambda g: (randn(g, 4, 5, 5),), {"module": lambda: torch.nn.ReplicationPad2d((1, 2, 1, 2))}),
        "between_mul_add": (lambda g: (randn(g, 1, 2, 4, 4),), {"module": between_mul_add(lambda x: F.pad(x, (2, 2, 2, 2), mode="replicate"))}),
    }),
]
