"""The partitioner's own reasons for leaving nodes on the CPU.

The Arm partitioner reports each rejected node to a WhyNoPartitionReporter and only
logs the table (at INFO, to a file handler it never removes). We observe the real
report_reject calls instead, for the duration of one lowering.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _op_name(node: Any) -> str:
    target = getattr(node.target, "_op", None) or node.target
    return str(getattr(target, "__name__", target))


@contextlib.contextmanager
def capture_rejections() -> Iterator[dict[str, str]]:
    """Yield {operator: first reason given} filled while the partitioner runs inside."""
    from executorch.exir.backend.utils import WhyNoPartitionReporter

    reasons: dict[str, str] = {}
    real = WhyNoPartitionReporter.report_reject

    def observed(self: Any, node: Any, reason: str) -> None:
        if node.op not in ("placeholder", "output"):
            reasons.setdefault(_op_name(node), reason)
        real(self, node, reason)

    WhyNoPartitionReporter.report_reject = observed  # type: ignore[method-assign]
    try:
        yield reasons
    finally:
        WhyNoPartitionReporter.report_reject = real  # type: ignore[method-assign]
