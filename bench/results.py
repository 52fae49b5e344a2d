"""One line of the bench's table, and its raw figures for the JSON file."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from .stats import Summary


@dataclass
class Row:
    """A case: the SDK's figure, the baseline's, how they compare, the target.

    ``met`` is None for figures reported without a target (or not measured).
    ``raw`` holds the samples behind the summaries, for the JSON file.
    """

    case: str
    sdk: Summary | None
    baseline: Summary | None
    result: str
    target: str
    met: bool | None
    note: str = ""
    value: float | None = None
    raw: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "case": self.case,
            "sdk": self.sdk.to_json() if self.sdk else None,
            "baseline": self.baseline.to_json() if self.baseline else None,
            "value": self.value,
            "result": self.result,
            "target": self.target,
            "met": self.met,
            "note": self.note,
            "raw": self.raw,
        }


def ratio_row(
    case: str,
    sdk: Summary,
    baseline: Summary,
    limit: float,
    *,
    higher_is_better: bool = False,
    pairs: Sequence[tuple[float, float]] | None = None,
) -> Row:
    """A row whose result is sdk/baseline, met when within ``limit``.

    With ``pairs`` (samples taken back to back), the result is the median of
    the per-pair ratios: drift in the machine's speed over the run, which
    moves both samples of a pair alike, then cancels out.
    """
    by_pairs = statistics.median(s / b for s, b in pairs) if pairs else None
    value = by_pairs if by_pairs is not None else sdk.median / baseline.median
    met = value >= limit if higher_is_better else value <= limit
    sign = ">=" if higher_is_better else "<="
    return Row(case, sdk, baseline, f"{value:.3f}x", f"{sign} {limit:g}x", met, value=value)
