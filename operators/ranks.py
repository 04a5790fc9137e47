"""Rank 6 and a million elements for operators whose other cases live in their family files.

Every operator here had cases up to rank 5 at most: this file adds one rank-6 case each
(shape 1x2x2x3x2x5, odd and prime sizes, with the operator's dims chosen at both ends and in
the middle), and a million-element input (1x16x256x256) for the commonest elementwise ops,
softmax and mean, where tiling and memory planning get exercised.
Not yet: rank 6 for convolution and pooling (no such op in PyTorch), rank 7 and beyond.
"""

import torch
import torch.nn.functional as F

from etconform.cases import Case, Lambda, randn, uniform
from operators._shapes import MILLION, RANKS

R6 = RANKS[6]


def _rank6(subject: str, fn, inputs: int = 1, draw=randn, **options) -> Case:
    def factory(g: torch.Generator):
        return tuple(draw(g, *R6) for _ in range(inputs))
    return Case(subject, "rank6_ranks_file", lambda: Lambda(fn), factory, **options)


def _positive(g: torch.Generator, *shape: int) -> torch.Tensor:
    return uniform(g, *shape, low=0.05, high=8.0)


def _million(subject: str, fn, inputs: int = 1) -> Case:
    return Case(subject, "million", lambda: Lambda(fn), lambda g: tuple(randn(g, *MILLION) for _ in range(inputs)))


_UNARY = {
    "abs": torch.abs, "neg": torch.neg, "relu": torch.relu, "relu6": F.relu6, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
    "exp": torch.exp, "erf": torch.erf, "sin": torch.sin, "floor": torch.floor, "ceil": torch.ceil, "round": torch.round,
    "sign": torch.sign, "gelu": F.gelu, "silu": F.silu, "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid,
    "hardtanh": F.hardtanh, "leaky_relu": F.leaky_relu, "elu": F.elu, "selu": F.selu, "softplus": F.softplus,
    "mish": F.mish, "softsign": F.softsign, "log_sigmoid": F.logsigmoid, "hardshrink": F.hardshrink,
    "clamp": lambda x: torch.clamp(x, -0.5, 0.75), "threshold": lambda x: F.threshold(x, 0.1, -1.0),
    "isnan": torch.isnan, "isinf": torch.isinf, "logical_not": torch.logical_not,
    "softmax": lambda x: torch.softmax(x, dim=3), "log_softmax": lambda x: torch.log_softmax(x, dim=-1),
    "cumsum": lambda x: torch.cumsum(x, dim=4), "logsumexp": lambda x: torch.logsumexp(x, dim=1),
    "sum": lambda x: x.sum(dim=(1, 5)), "mean": lambda x: x.mean(dim=-1), "prod": lambda x: x.prod(dim=2),
    "amax": lambda x: x.amax(dim=3), "amin": lambda x: x.amin(dim=0), "argmax": lambda x: x.argmax(dim=5),
    "argmin": lambda x: x.argmin(dim=2), "max_dim": lambda x: x.max(dim=4), "std": lambda x: x.std(dim=3),
    "var": lambda x: x.var(dim=5), "norm": lambda x: torch.linalg.vector_norm(x, dim=-1), "any": lambda x: (x > 1).any(dim=2),
    "all": lambda x: (x > -2).all(dim=3), "permute": lambda x: x.permute(5, 3, 1, 0, 2, 4) * 2,
    "transpose": lambda x: x.transpose(1, 4) + 1, "reshape": lambda x: x.reshape(2, 6, 10) * 2,
    "view": lambda x: x.view(4, 3, 10) + 1, "flatten": lambda x: x.flatten(2, 4) * 2, "squeeze": lambda x: x.squeeze(0) + 1,
    "unsqueeze": lambda x: x.unsqueeze(3) * 2, "flip": lambda x: x.flip(1, 5), "roll": lambda x: x.roll(2, dims=5),
    "expand": lambda x: x.expand(3, -1, -1, -1, -1, -1) + 0, "repeat": lambda x: x.repeat(1, 1, 2, 1, 1, 1),
    "tile": lambda x: x.tile((2, 1, 1, 1, 1, 1)), "split": lambda x: x.split(2, dim=5),
    "chunk": lambda x: x.chunk(3, dim=3), "unbind": lambda x: x.unbind(1), "narrow": lambda x: x.narrow(5, 1, 3) * 2,
    "select": lambda x: x.select(3, 1) + 1, "slice": lambda x: x[:, :, :, 1:, :, ::2] * 2, "movedim": lambda x: x.movedim(0, 5) + 1,
    "contiguous": lambda x: x.transpose(2, 3).contiguous() + 1, "masked_fill": lambda x: x.masked_fill(x > 0.5, -1.0),
    "layer_norm": lambda x: F.layer_norm(x, (2, 5)), "rms_norm": lambda x: F.rms_norm(x, (5,)),
    "normalize": lambda x: F.normalize(x, dim=3),
}
_POSITIVE = {"log": torch.log, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "reciprocal": torch.reciprocal}
_BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "maximum": torch.maximum, "minimum": torch.minimum,
    "eq": lambda x, y: x.round() == y.round(), "ne": lambda x, y: x.round() != y.round(), "lt": torch.lt,
    "le": torch.le, "gt": torch.gt, "ge": torch.ge, "logical_and": lambda x, y: (x > 0) & (y > 0),
    "logical_or": lambda x, y: torch.logical_or(x > 0, y > 0), "where": lambda x, y: torch.where(x > 0, x, y),
    "cat": lambda x, y: torch.cat([x, y], dim=4), "stack": lambda x, y: torch.stack([x, y], dim=6),
    "lerp": lambda x, y: torch.lerp(x, y, 0.3), "remainder": lambda x, y: torch.remainder(x, y.abs() + 0.5),
    "pow": lambda x, y: torch.pow(x.abs() + 0.1, y.clamp(-2, 2)),
}

CASES = [
    *(_rank6(name, fn) for name, fn in _UNARY.items()),
    *(_rank6(name, fn, draw=_positive) for name, fn in _POSITIVE.items()),
    _rank6("div", torch.div, inputs=2, draw=_positive),
    *(_rank6(name, fn, inputs=2) for name, fn in _BINARY.items()),
    _million("relu", torch.relu),
    _million("sigmoid", torch.sigmoid),
    _million("add", torch.add, inputs=2),
    _million("mul", torch.mul, inputs=2),
    _million("softmax", lambda x: torch.softmax(x, dim=-1)),
    _million("mean", lambda x: x.mean(dim=(2, 3))),
]
