"""A memory budget from the command line (`--memory-budget sram=384KiB,flash=2MiB`) and
whether a model's Vela estimate fits it. Vela reports KiB; the budget is kept in KiB too.
"""

from __future__ import annotations

import re
from typing import Any

# Budget name -> the Vela summary field it bounds.
FIELDS = {"sram": "sram_memory_used", "dram": "dram_memory_used",
          "flash": "off_chip_flash_memory_used", "on_chip_flash": "on_chip_flash_memory_used"}
_UNITS = {"": 1 / 1024, "b": 1 / 1024, "kib": 1, "kb": 1000 / 1024, "mib": 1024, "mb": 1e6 / 1024}


def parse_budget(text: str) -> dict[str, float]:
    """{'sram': KiB, ...}; a malformed budget raises ValueError naming the part."""
    budget = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        found = re.fullmatch(r"(\w+)=([\d.]+)\s*([a-zA-Z]*)", part)
        if not found or found.group(1) not in FIELDS or found.group(3).lower() not in _UNITS:
            raise ValueError(f"{part!r}: expected NAME=SIZE with NAME one of {', '.join(FIELDS)} "
                             f"and SIZE like 384KiB or 2MiB")
        budget[found.group(1)] = float(found.group(2)) * _UNITS[found.group(3).lower()]
    return budget


def fits(estimate: dict[str, Any], budget: dict[str, float]) -> tuple[bool | None, str]:
    """(fits, why): None when there is no budget or no estimate to hold to it."""
    if not budget or not estimate:
        return None, ""
    over = [f"{name} {estimate[field]:.0f} KiB > {limit:.0f} KiB" for name, limit in budget.items()
            if (field := FIELDS[name]) in estimate and estimate[field] > limit]
    return (False, "; ".join(over)) if over else (True, "within " + ", ".join(f"{n} {v:.0f} KiB" for n, v in budget.items()))
