"""Child processes that never outlive this one: each in a group a watchdog holds.

A program's ``finally`` does not run when it is killed by SIGKILL (or by
SIGTERM with Python's default handler), and a child left behind keeps
running: a compiler using every core, a pip download, a probe llama-server
listening without a key. So each child here starts in a process group of its
own, which the :class:`~ramalama_sdk.process.watchdog_owner.GroupWatchdog` kills
if this process dies first. A normal exit kills what is left of each group
and disarms the watchdog.

>>> with ChildGroups() as children:
...     children.run(["true"]).returncode
0
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .watchdog_owner import GroupWatchdog

__all__ = ["ChildGroups"]


class ChildGroups:
    """Start children that die with this process, however it ends."""

    def __init__(self) -> None:
        self._dog: GroupWatchdog | None = None
        self._live: dict[int, subprocess.Popen[Any]] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> ChildGroups:
        self._dog = GroupWatchdog()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self._lock:
            live = list(self._live.values())
        for proc in live:
            self.end(proc)
        dog, self._dog = self._dog, None
        if dog is not None:
            dog.disarm()

    def popen(self, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """``subprocess.Popen`` in a new process group, held by the watchdog."""
        if self._dog is None:
            raise RuntimeError("ChildGroups is used outside its `with` block")
        proc: subprocess.Popen[Any] = subprocess.Popen(list(argv), start_new_session=True, **kwargs)
        with self._lock:
            self._live[proc.pid] = proc
        self._dog.tell_group(proc.pid)
        return proc

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[Any]:
        """``subprocess.run`` (no timeout, no input) in a group held by the watchdog."""
        proc = self.popen(argv, **kwargs)
        try:
            self.finish(proc)
        finally:
            self.end(proc)
        return subprocess.CompletedProcess(proc.args, proc.returncode)

    def finish(self, proc: subprocess.Popen[Any]) -> int:
        """Wait for ``proc`` to exit, then end what is left of its group; its exit code."""
        if proc.returncode is None:
            # Waited for without reaping: until reaped, its pid names only its
            # own group, so the kill below cannot reach a process that took the
            # number over.
            with contextlib.suppress(ChildProcessError):
                os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        self.end(proc)
        return int(proc.returncode)

    def end(self, proc: subprocess.Popen[Any]) -> None:
        """Kill what is left of ``proc``'s group now, reap ``proc``, let the watchdog forget it."""
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        with self._lock:
            self._live.pop(proc.pid, None)
        if self._dog is not None:
            self._dog.forget_group(proc.pid)
