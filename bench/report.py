"""The table printed at the end of a run, and the JSON file of raw figures."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from .results import Row

HEADER = ("case", "SDK median [p10-p90]", "baseline median [p10-p90]", "result", "target", "met")


def _cells(row: Row) -> tuple[str, ...]:
    met = {True: "yes", False: "NO", None: "-"}[row.met]
    return (
        row.case,
        row.sdk.text() if row.sdk else "-",
        row.baseline.text() if row.baseline else "-",
        row.result,
        row.target,
        met,
    )


def table(rows: Sequence[Row]) -> str:
    """A Markdown table (readable in a terminal too), then each row's note."""
    lines = [HEADER, tuple("---" for _ in HEADER), *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    text = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    ]
    notes = [f"- {row.case}: {row.note}" for row in rows if row.note]
    return "\n".join(text + (["", *notes] if notes else []))


def write_json(path: Path, machine: Mapping[str, object], rows: Sequence[Row]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": dict(machine),
        "rows": [row.to_json() for row in rows],
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
