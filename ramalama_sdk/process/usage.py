"""What a served model's processes use on this machine: memory and age.

On the host the ``ramalama serve`` child and its llama-server are one
process tree, measured with psutil. A container's llama-server runs under
the engine, outside that tree: its memory is what the engine reports
(``podman stats``), or else the resident memory of the container's own
process tree on the host.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Mapping
from typing import Any

import psutil

from . import engine

# podman stats reads the container's cgroup once; a stuck engine is not waited for.
ENGINE_TIMEOUT = 10.0


def tree_memory(pid: int) -> int | None:
    """Bytes resident (RSS) in process ``pid`` and all its descendants; None
    if it has ended. Processes that end while they are counted are skipped."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for process in tree:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def uptime(pid: int) -> float | None:
    """Seconds since process ``pid`` started; None if it has ended."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    return max(0.0, time.time() - started)


def container_memory(engine_name: str, container: str) -> int | None:
    """Bytes the container uses, as the engine reports it, or else the
    resident memory of its process tree on this host; None if neither says."""
    stats = _engine_output(engine_name, ["stats", "--no-stream", "--format", "json", container])
    used = parse_stats_memory(stats) if stats is not None else None
    if used is not None:
        return used
    pid = _engine_output(engine_name, ["inspect", "--format", "{{.State.Pid}}", container])
    if pid is None or not pid.strip().isdigit() or int(pid) <= 0:
        return None
    return tree_memory(int(pid))


def parse_stats_memory(stats_json: str) -> int | None:
    """The memory in use in ``podman stats --no-stream --format json``.

    podman 4 writes it as text, usage then limit, in decimal units rounded
    to four digits; newer releases as a number of bytes.

    >>> parse_stats_memory('[{"name":"c","mem_usage":"5.939MB / 25.28GB"}]')
    5939000
    >>> parse_stats_memory('[{"name":"c","mem_usage":104857600}]')
    104857600
    >>> parse_stats_memory('[{"mem_usage":"1.5GiB / 2GiB"}]')
    1610612736
    >>> parse_stats_memory('[]') is None
    True
    """
    try:
        data: Any = json.loads(stats_json)
    except ValueError:
        return None
    entry = data[0] if isinstance(data, list) and data else data
    if not isinstance(entry, Mapping):
        return None
    used = entry.get("mem_usage")
    if isinstance(used, str):
        used = _bytes(used.split("/")[0])
    return used if isinstance(used, int) and not isinstance(used, bool) and used > 0 else None


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKMGT]i?)?B\s*")
_UNITS = {"": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4}


def _bytes(text: str) -> int | None:
    match = _SIZE.fullmatch(text)
    if match is None:
        return None
    number, unit = match.group(1), match.group(2) or ""
    factor = 1024 ** (" KMGT".index(unit[0].upper())) if unit.endswith("i") else _UNITS[unit]
    return round(float(number) * factor)


def _engine_output(engine_name: str, args: list[str]) -> str | None:
    try:
        done = subprocess.run(
            [engine_name, *args],
            env=engine.child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=ENGINE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
