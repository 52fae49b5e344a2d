"""What the figures were measured on: cores, CPU, Python, ramalama, llama-server."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

from ramalama_sdk.stack.server_build import cpu_name


def _llama_server_version(bin_dir: Path) -> str:
    try:
        done = subprocess.run(
            [str(bin_dir / "llama-server"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [line for line in (done.stdout + done.stderr).splitlines() if "version" in line]
    return lines[0].strip() if lines else "unknown"


def describe(bin_dir: Path) -> dict[str, str | int]:
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_name(),
        "python": platform.python_version(),
        "ramalama": version("ramalama"),
        "ramalama_sdk": version("ramalama-sdk"),
        "llama_server": _llama_server_version(bin_dir),
    }
