"""Recurrent layers as operators: rnn, gru, lstm.

Covers: one and two layers, batch_first both ways, tanh and relu RNNs, bidirectional, an
explicit initial state and none (zeros), without bias, an LSTM with a projection
(proj_size), a single time step and a long sequence (the outputs and the final states).
Not yet: packed sequences, dropout between layers (training only).
"""

import torch

from etconform.cases import Calls, op_cases, randn

nn = torch.nn


def _rnn(kind: str, **kwargs):
    return lambda: Calls(getattr(nn, kind)(8, 12, **kwargs))


def _lstm_with_states() -> nn.Module:
    return Calls(nn.LSTM(8, 12, batch_first=True), lambda layer, x, h, c: layer(x, (h, c)))


CASES = [
    *op_cases("rnn", _rnn("RNN", batch_first=True), {
        "tanh_default": (lambda g: (randn(g, 2, 10, 8),), {"smoke": True}),
        "relu": (lambda g: (randn(g, 2, 10, 8),), {"module": _rnn("RNN", nonlinearity="relu", batch_first=True)}),
        "two_layers_seq_first": (lambda g: (randn(g, 10, 2, 8),), {"module": _rnn("RNN", num_layers=2)}),
        "bidirectional": (lambda g: (randn(g, 1, 6, 8),), {"module": _rnn("RNN", bidirectional=True, batch_first=True)}),
        "initial_state": lambda g: (randn(g, 2, 5, 8), randn(g, 1, 2, 12)),
        "no_bias_one_step": (lambda g: (randn(g, 3, 1, 8),), {"module": _rnn("RNN", bias=False, batch_first=True)}),
    }),
    *op_cases("gru", _rnn("GRU", batch_first=True), {
        "default": (lambda g: (randn(g, 2, 10, 8),), {"smoke": True}),
        "two_layers_seq_first": (lambda g: (randn(g, 10, 2, 8),), {"module": _rnn("GRU", num_layers=2)}),
        "bidirectional": (lambda g: (randn(g, 1, 6, 8),), {"module": _rnn("GRU", bidirectional=True, batch_first=True)}),
        "initial_state": lambda g: (randn(g, 2, 5, 8), randn(g, 1, 2, 12)),
        "no_bias": (lambda g: (randn(g, 2, 4, 8),), {"module": _rnn("GRU", bias=False, batch_first=True)}),
        "long_sequence": lambda g: (randn(g, 1, 64, 8),),
    }),
    *op_cases("lstm", _rnn("LSTM", batch_first=True), {
        "default": (lambda g: (randn(g, 2, 10, 8),), {"smoke": True}),
        "two_layers_seq_first": (lambda g: (randn(g, 10, 2, 8),), {"module": _rnn("LSTM", num_layers=2)}),
        "bidirectional": (lambda g: (randn(g, 1, 6, 8),), {"module": _rnn("LSTM", bidirectional=True, batch_first=True)}),
        "initial_states": (lambda g: (randn(g, 2, 5, 8), randn(g, 1, 2, 12), randn(g, 1, 2, 12)), {"module": _lstm_with_states}),
        "projection": (lambda g: (randn(g, 2, 7, 8),), {"module": _rnn("LSTM", proj_size=4, batch_first=True)}),
        "no_bias_one_step": (lambda g: (randn(g, 3, 1, 8),), {"module": _rnn("LSTM", bias=False, batch_first=True)}),
    }),
]
