"""Summaries of timing samples, and interleaving two measurements.

Medians with the 10th and 90th percentiles: a benchmark on a shared 2-core
machine has outliers, and the median is what a user feels.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Summary:
    """Median and spread of one series, in ``unit``."""

    median: float
    p10: float
    p90: float
    n: int
    unit: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    def text(self, digits: int = 2) -> str:
        return f"{self.median:.{digits}f} {self.unit} [{self.p10:.{digits}f}-{self.p90:.{digits}f}]"


def summarize(values: Sequence[float], unit: str, scale: float = 1.0) -> Summary:
    """Summarize ``values`` (multiplied by ``scale``, e.g. 1e-6 for ns -> ms)."""
    if not values:
        raise ValueError("no samples")
    scaled = sorted(v * scale for v in values)
    if len(scaled) == 1:
        only = scaled[0]
        return Summary(only, only, only, 1, unit)
    deciles = statistics.quantiles(scaled, n=10, method="inclusive")
    return Summary(statistics.median(scaled), deciles[0], deciles[-1], len(scaled), unit)


def interleave(
    rounds: int, first: Callable[[], float], second: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Alternate two measurements, swapping their order every round.

    Running them back to back cancels slow drifts of the machine (another
    process, CPU frequency); swapping cancels any effect of going first.
    """
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            a.append(first())
            b.append(second())
        else:
            b.append(second())
            a.append(first())
    return a, b
