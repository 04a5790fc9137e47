"""Image classifiers: MobileNetV2 (and with an LRN layer), MobileNetV3-small, ResNet-18.

Inputs: smooth random images (low-resolution noise, upsampled bilinearly) in [0, 1],
normalised with the ImageNet mean and std, batch 1. Sizes: 224x224 for the MobileNets
(as deployed, and as in the article), 128x128 for ResNet-18 to bound the TOSA reference
model's run time. 4 evaluation images; a separate set of 8 for calibration.
Metrics: cosine, SQNR, top-1 and top-5 agreement with eager.
Not yet: pretrained weights are used only when on disk; no real images ship here.
"""

from __future__ import annotations

import torch

from etconform.cases import Case
from models import _weights as weights

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def images(size: int):
    def make(g: torch.Generator) -> tuple[torch.Tensor]:
        coarse = torch.rand((1, 3, size // 16, size // 16), generator=g)
        image = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
        image = (image + 0.05 * torch.randn(image.shape, generator=g)).clamp(0, 1)
        return ((image - MEAN) / STD,)

    return make


def calibration(size: int, count: int = 8):
    make = images(size)
    return lambda g: [make(g) for _ in range(count)]


def _with_statistics(model: torch.nn.Module, size: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(torch.initial_seed())  # the case's seed, set by the harness
    make = images(size)
    batches = [torch.cat([make(g)[0] for _ in range(4)]) for _ in range(2)]
    return weights.recalibrate_batchnorm(model, batches)


def torchvision_classifier(builder: str, weights_enum: str, size: int):
    def build() -> torch.nn.Module:
        import torchvision  # here, not at the top: collection should not pay for it (about 4 s)

        models = torchvision.models
        return _with_statistics(weights.torchvision_model(getattr(models, builder), getattr(models, weights_enum)), size)

    return build


mobilenet_v2 = torchvision_classifier("mobilenet_v2", "MobileNet_V2_Weights", 224)


def mobilenet_v2_lrn() -> torch.nn.Module:
    """MobileNetV2 with a LocalResponseNorm after features[2]: the article's fragmentation case."""
    model = mobilenet_v2()
    model.features[2] = torch.nn.Sequential(model.features[2], torch.nn.LocalResponseNorm(size=5))
    return model


def _classifier(name: str, variant: str, module, size: int, **options) -> Case:
    return Case(name, variant, module, images(size), kind="model", samples=4, calibration=calibration(size),
                metrics="classifier", weights=weights.describe,
                data="smooth random images (seeded), no labels", **options)


CASES = [
    _classifier("mobilenet_v2", "224", mobilenet_v2, 224, smoke=True),
    _classifier("mobilenet_v2_lrn", "224", mobilenet_v2_lrn, 224),
    _classifier("mobilenet_v3_small", "224", torchvision_classifier(
        "mobilenet_v3_small", "MobileNet_V3_Small_Weights", 224), 224),
    _classifier("resnet18", "128", torchvision_classifier(
        "resnet18", "ResNet18_Weights", 128), 128),
]
