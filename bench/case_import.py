"""Import cost: ``python -c "import ramalama_sdk"`` against ``python -c "pass"``,
each a fresh interpreter, alternately; and, from ``-X importtime``, which
modules the SDK's own modules import that cost the most."""

from __future__ import annotations

import subprocess
import sys
import time

from .results import Row
from .stats import interleave, summarize

TARGET_MS = 60.0


def _run_ns(statement: str) -> float:
    start = time.perf_counter_ns()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter_ns() - start


def heaviest_imports(limit: int = 6) -> list[tuple[str, float]]:
    """(module, cumulative ms) for the costliest modules imported by ramalama_sdk.

    ``-X importtime`` prints a module after everything it imported, indented
    one step less, so a line's importer is the next line that is less indented.
    """
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import ramalama_sdk"],
        capture_output=True,
        text=True,
        check=True,
    )
    entries: list[tuple[int, str, float]] = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, total, label = line.split("|")
        if not total.strip().isdigit():
            continue  # the header line
        depth = len(label) - len(label.lstrip(" "))
        entries.append((depth, label.strip(), int(total) / 1000))
    found: list[tuple[str, float]] = []
    for index, (depth, name, cumulative) in enumerate(entries):
        importer = next((e[1] for e in entries[index + 1 :] if e[0] < depth), "")
        if importer.startswith("ramalama_sdk") and not name.startswith("ramalama_sdk"):
            found.append((name, cumulative))
    return sorted(found, key=lambda item: -item[1])[:limit]


def measure(rounds: int, warmup: int) -> Row:
    def sdk() -> float:
        return _run_ns("import ramalama_sdk")

    def bare() -> float:
        return _run_ns("pass")

    interleave(warmup, sdk, bare)
    sdk_ns, bare_ns = interleave(rounds, sdk, bare)
    sdk_s = summarize(sdk_ns, "ms", 1e-6)
    bare_s = summarize(bare_ns, "ms", 1e-6)
    added = sdk_s.median - bare_s.median
    heavy = heaviest_imports()
    note = "heaviest: " + ", ".join(f"{name} {ms:.0f} ms" for name, ms in heavy)
    return Row(
        "import ramalama_sdk (added)",
        sdk_s,
        bare_s,
        f"{added:+.1f} ms",
        f"< +{TARGET_MS:g} ms",
        added < TARGET_MS,
        note=note,
        value=added,
        raw={"sdk_ns": sdk_ns, "baseline_ns": bare_ns, "heaviest_ms": dict(heavy)},
    )
