"""Keyword spotting: DS-CNN (MLPerf Tiny's KWS model) and a small LSTM classifier.

Inputs: 49 frames x 10 MFCC coefficients (DS-CNN) and 20 frames x 40 features (LSTM),
seeded, with per-coefficient scales like real MFCCs (the first coefficient largest).
Weights are always seeded random: these architectures have no packaged weights.
4 evaluation samples, 8 for calibration. Metrics: cosine, SQNR, top-1 agreement.
"""

from __future__ import annotations

import torch
from torch import nn

from etconform.cases import Case
from models import _weights as weights


class DSCNN(nn.Module):
    """DS-CNN-S: conv 10x4/2, four depthwise-separable blocks of 64 channels, average pool, 12 classes."""

    def __init__(self, channels: int = 64, classes: int = 12, first_padding: tuple[int, int] = (5, 1), eps: float = 1e-5):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, channels, (10, 4), stride=2, padding=first_padding),
                                   nn.BatchNorm2d(channels, eps=eps), nn.ReLU()]
        for _ in range(4):
            layers += [
                nn.Conv2d(channels, channels, 3, padding=1, groups=channels), nn.BatchNorm2d(channels, eps=eps), nn.ReLU(),
                nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels, eps=eps), nn.ReLU(),
            ]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class LSTMClassifier(nn.Module):
    def __init__(self, features: int = 40, hidden: int = 64, classes: int = 10):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def mfcc(frames: int, coefficients: int, channel_dim: bool):
    scale = torch.linspace(20.0, 2.0, coefficients)

    def make(g: torch.Generator) -> tuple[torch.Tensor]:
        x = torch.randn((1, frames, coefficients), generator=g) * scale
        return (x.unsqueeze(1) if channel_dim else x,)

    return make


def _calibration(make, count: int = 8):
    return lambda g: [make(g) for _ in range(count)]


def _kws(name: str, module, make) -> Case:
    def build() -> nn.Module:
        g = torch.Generator().manual_seed(torch.initial_seed())
        return weights.recalibrate_batchnorm(module(), [torch.cat([make(g)[0] for _ in range(4)]) for _ in range(2)])

    return Case(name, "kws", build, make, kind="model", samples=4, calibration=_calibration(make),
                metrics="classifier", weights=lambda: "random (seeded)",
                data="random MFCC-like features (seeded), no labels")


CASES = [
    _kws("ds_cnn", DSCNN, mfcc(49, 10, channel_dim=True)),
    _kws("lstm", LSTMClassifier, mfcc(20, 40, channel_dim=False)),
]
