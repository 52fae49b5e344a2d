"""One command run to its end, as steps: its exit code and its last lines.

A generator of steps (see steps.py), so that the sync and the async shells
share it. The command's stdout and stderr go to a private log file, whose
last lines come back with the exit code. A watcher can follow the log while
the command runs: ``ramalama pull`` reports its progress bar through one
(store/progress.py's ``PullMonitor``); the engine's image pull and
``ramalama info`` (server_image.py) need none.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Generator, Sequence
from typing import Protocol

from .steps import Launch, Sleep, Step
from .supervisor import LogFile

POLL_INTERVAL = 0.02  # an up-to-date pull ends within ~0.2 s


class OutputWatcher(Protocol):
    """Follows a running command's output (store/progress.py's ``PullMonitor``)."""

    @property
    def stdout(self) -> int | None:
        """The descriptor to give the command as its stdout; None: the log file."""

    def child_started(self) -> None:
        """The command runs: drop this process's copy of its stdout."""

    def poll(self) -> None:
        """Read what the command wrote since the last call; never blocks."""

    def close(self) -> None:
        """The command has ended: report what is left, release what is held."""


WatcherFactory = Callable[[Callable[[int], bytes]], OutputWatcher]
"""Makes a watcher from the log's reader (what was written from an offset on)."""


def run_to_end(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    watcher: WatcherFactory | None = None,
    lines: int = 50,
) -> Generator[Step, object, tuple[int, list[str]]]:
    """Run one command to its end; return (exit code, its last ``lines`` lines)."""
    log = LogFile(prefix="ramalama-sdk-pull-")
    monitor = watcher(log.read_from) if watcher is not None else None
    try:
        terminal = monitor.stdout if monitor is not None else None
        popen = yield Launch(
            argv, env, terminal if terminal is not None else log.handle, log.handle
        )
        if monitor is not None:
            monitor.child_started()
        assert isinstance(popen, subprocess.Popen)
        while (code := popen.poll()) is None:
            if monitor is not None:
                monitor.poll()
            yield Sleep(POLL_INTERVAL)
        if monitor is not None:
            monitor.close()
        return code, log.tail(lines)
    finally:
        if monitor is not None:
            monitor.close()
        log.close(keep=0)
