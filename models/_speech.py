"""Spoken words from eSpeak NG, the speech synthesizer, as 16 kHz int16 audio.

The library and its voices come from `espeakng-loader` 0.2.4 (PyPI; eSpeak NG 1.52,
GPL-3.0-or-later), called through ctypes: no system package, nothing fetched. eSpeak keeps
state from one utterance to the next (its lengths drift by a few ms), so `speak` makes a
list of clips in a fresh process, always in the same order: the same list gives the same
audio, to the bit, every time (and a crash in the library cannot take the test run down).
"""

from __future__ import annotations

import ctypes
import io
import json
import subprocess
import sys
from functools import cache

import numpy as np
from scipy.signal import resample_poly

from models import _data

RATE = 16000
_SYNCHRONOUS, _RATE, _POSITION_CHARACTER = 2, 1, 1  # speak_lib.h: AUDIO_OUTPUT_SYNCHRONOUS, espeakRATE, POS_CHARACTER
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_chunks: list[np.ndarray] = []


def _collect(wav, count, _events):  # noqa: ANN001, ANN202 - eSpeak's synth callback
    if count > 0:
        _chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
    return 0


_libc = ctypes.CDLL(None)
_collector = _CALLBACK(_collect)  # kept alive here: eSpeak holds only the pointer


@cache
def _espeak() -> tuple[ctypes.CDLL, int]:
    folder = _data.package_dir("espeakng-loader")
    lib = ctypes.CDLL(str(folder / "libespeak-ng.so"))
    rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, str(folder / "espeak-ng-data").encode(), 0)
    if rate <= 0:
        raise RuntimeError(f"eSpeak NG did not start from {folder} (espeak_Initialize gave {rate})")
    lib.espeak_SetSynthCallback(_collector)
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    return lib, rate


def speak(items: list[tuple[str, str]]) -> list[np.ndarray]:
    """Each (word, voice) spoken, in a fresh process, in this order (see `say`)."""
    _data.package_dir("espeakng-loader")  # not installed: a skip that names the install command
    done = subprocess.run([sys.executable, "-m", "models._speech"], input=json.dumps(items).encode(),
                          capture_output=True, timeout=600, check=False)
    if done.returncode:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        error = ValueError if done.returncode == 2 else RuntimeError
        raise error(f"eSpeak NG (models/_speech.py, exit {done.returncode}): {message[-1] if message else 'no message'}")
    with np.load(io.BytesIO(done.stdout)) as clips:
        return [clips[f"clip{i}"] for i in range(len(items))]


def say(word: str, voice: str, words_per_minute: int = 150) -> np.ndarray:
    """`word` spoken by `voice` (an eSpeak name with an optional variant: "en-us+f2"), trimmed of
    leading and trailing silence."""
    lib, rate = _espeak()
    _chunks.clear()
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"eSpeak NG has no voice {voice!r}")
    lib.espeak_SetParameter(_RATE, words_per_minute, 0)
    text = word.encode()
    # The breath noise is random, from eSpeak's own generator and from libc's rand(): both seeded.
    lib.espeak_ng_SetRandSeed(1)
    _libc.srand(1)
    lib.espeak_Synth(text, len(text) + 1, 0, _POSITION_CHARACTER, 0, 0, None, None)
    lib.espeak_Synchronize()
    audio = resample_poly(np.concatenate(_chunks).astype(np.float64), RATE, rate)
    voiced = np.nonzero(np.abs(audio) > 300)[0]  # about -40 dBFS: the synthesizer's silence is 0
    return np.clip(audio[voiced[0]:voiced[-1] + 1], -32768, 32767).astype(np.int16)


def centred(audio: np.ndarray, samples: int = RATE) -> np.ndarray:
    """The clip in the middle of `samples` of silence, as Speech Commands' 1 s clips hold their word."""
    out = np.zeros(samples, np.int16)
    audio = audio[:samples]
    start = (samples - len(audio)) // 2
    out[start:start + len(audio)] = audio
    return out


def _main() -> None:
    items = json.load(sys.stdin)
    try:
        clips = [say(word, voice) for word, voice in items]
    except ValueError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    buffer = io.BytesIO()
    np.savez(buffer, **{f"clip{i}": clip for i, clip in enumerate(clips)})
    sys.stdout.buffer.write(buffer.getvalue())


if __name__ == "__main__":
    _main()
