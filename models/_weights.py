"""The weights policy: seeded random by default, pretrained only from what is on disk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch


def policy() -> str:
    value = os.environ.get("ETCONFORM_WEIGHTS", "random")
    if value not in ("random", "pretrained"):
        raise ValueError(f"ETCONFORM_WEIGHTS must be random or pretrained, not {value!r}")
    return value


def describe() -> str:
    return "pretrained (from disk)" if policy() == "pretrained" else "random (seeded)"


def torchvision_model(builder: Any, weights_enum: Any, **kwargs: Any) -> torch.nn.Module:
    """A torchvision model; with pretrained weights only if their file is already in the hub cache."""
    if policy() == "random":
        return builder(weights=None, **kwargs)
    weights = weights_enum.DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.exists():
        raise FileNotFoundError(
            f"pretrained weights not on disk: {path}. Nothing is downloaded at run time; copy the file "
            f"there (from {weights.url}) or run with --weights random"
        )
    model = builder(weights=None, **kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model


def huggingface_model(model_cls: Any, config: Any, name: str) -> torch.nn.Module:
    """A transformers model built from `config`; pretrained only from the local cache."""
    if policy() == "random":
        return model_cls(config)
    try:
        return model_cls.from_pretrained(name, local_files_only=True)
    except OSError as exc:
        raise FileNotFoundError(
            f"pretrained weights for {name} not in the Hugging Face cache ({exc}); nothing is downloaded "
            "at run time: populate the cache elsewhere and copy it, or run with --weights random"
        ) from exc


def recalibrate_batchnorm(model: torch.nn.Module, batches: list[torch.Tensor]) -> torch.nn.Module:
    """Give a randomly initialised model BatchNorm statistics of real activations.

    Fresh BatchNorm layers (mean 0, var 1) let activations vanish through a deep random
    network (MobileNetV2's logits come out near 1e-9), which makes any comparison
    meaningless. A few forward passes in train mode set the running statistics, as
    training would. Pretrained models keep theirs.
    """
    if policy() == "pretrained":
        return model
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    return model.eval()
