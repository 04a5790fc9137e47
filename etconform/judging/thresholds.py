"""Model thresholds per model and target, measured from clean runs: suites/expectations/models/thresholds.toml.

    ["mobilenet_v2-224".ethos_u55_128]
    min_cosine_vs_quantized = 0.9975   # keys of etconform.judging.tolerances.Tolerance
    measured = "clean run 2026-11-25: cosine_vs_quantized 0.9985; 5 % gain on one layer: 0.9961"

`measured` says where the numbers come from; it is kept out of the tolerance. A model or
target absent here is held to the defaults in etconform/judging/tolerances.py.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

THRESHOLDS = Path(__file__).resolve().parents[2] / "suites" / "expectations" / "models" / "thresholds.toml"


@cache
def _table(path: Path = THRESHOLDS) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc


def thresholds(case_id: str, target: str) -> dict[str, float]:
    entry = dict(_table().get(case_id, {}).get(target, {}))
    entry.pop("measured", None)
    return entry
