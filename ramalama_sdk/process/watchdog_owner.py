"""This process's end of a watchdog's pipe: start it, tell it, disarm it.

The watchdog itself (watchdog.py) runs as a script of its own, by its file's
path, under a Python found for it (interpreters.py); watchdog.py also says
what the lines on the pipe mean and what the watchdog does at end-of-file.
"""

from __future__ import annotations

import os
import select
import subprocess
import threading
import time
import weakref
from collections.abc import Sequence

from . import watchdog
from .interpreters import find_interpreter
from .watchdog import KILL_GROUPS, WatchdogError, ready_line

READY_WITHIN = 30.0  # seconds for the watchdog's interpreter to start, on a loaded machine


class _Owner:
    """This process's end of a watchdog's pipe."""

    def __init__(self, args: Sequence[str], ready: str, interpreter: str | None = None) -> None:
        self._ready = ready
        script = os.path.abspath(watchdog.__file__)
        if not os.path.isfile(script):
            raise WatchdogError(
                f"the container watchdog script {script} is not a file (a frozen app "
                "must include ramalama_sdk/process/watchdog.py as a data file)"
            )
        python = interpreter if interpreter is not None else find_interpreter()
        read_end, self._fd = os.pipe()  # both close on exec: no child inherits them
        try:
            self._popen: subprocess.Popen[bytes] | None = subprocess.Popen(
                [python, "-I", script, *args],
                stdin=read_end,
                stdout=subprocess.PIPE,  # READY, then nothing
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # no terminal's Ctrl-C reaches it
                close_fds=True,
            )
        except OSError as exc:
            os.close(self._fd)
            raise WatchdogError(
                f"the container watchdog ({python}) could not start: {exc}"
            ) from None
        except BaseException:
            os.close(self._fd)
            raise
        finally:
            os.close(read_end)
        self.interpreter = python
        self._lock = threading.Lock()
        _live.add(self)

    def wait_ready(self, timeout: float = READY_WITHIN) -> None:
        """Return once the watchdog listens; WatchdogError (and the process
        stopped) if it exits, says something else, or is silent meanwhile."""
        popen = self._popen
        if popen is None or popen.stdout is None:
            return
        expected = ready_line(self._ready)
        said = b""
        deadline = time.monotonic() + timeout
        fd = popen.stdout.fileno()
        while len(said) < len(expected) and expected.startswith(said):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                break
            chunk = os.read(fd, len(expected) - len(said))
            if not chunk:
                break
            said += chunk
        popen.stdout.close()
        if said == expected:
            return
        popen.kill()  # whatever it is: a relaunched program must not run on
        code = popen.wait()
        self._close()
        self._popen = None
        what = f"exited at once (exit code {code})" if not said else f"said {said[:80]!r}"
        raise WatchdogError(
            f"the container watchdog ({self.interpreter} -I {watchdog.__file__}) {what}; "
            "without it a container could outlive this program"
        )

    def disarm(self) -> None:
        """All is taken care of: the watchdog exits and does nothing."""
        self._send("disarm\n")
        self._close()
        popen, self._popen = self._popen, None
        if popen is not None:
            if popen.stdout is not None:
                popen.stdout.close()
            try:
                popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass  # reaped by subprocess's own bookkeeping later

    def _send(self, line: str) -> None:
        with self._lock:
            if self._fd < 0:
                return
            try:
                os.write(self._fd, line.encode())
            except OSError:  # the watchdog died: nothing more to tell it
                pass

    def _close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def _close_in_child(self) -> None:
        # A forked child must not keep the pipe open: the watchdog would then
        # wait for the child's exit too. The child does not own the container.
        fd, self._fd = self._fd, -1
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass
        self._popen = None


class Watchdog(_Owner):
    """This process's end of one container's watchdog."""

    def __init__(self, engine: str, name: str, interpreter: str | None = None) -> None:
        self.engine = engine
        self.name = name
        super().__init__([engine, name], name, interpreter)

    def tell_group(self, pgid: int) -> None:
        """ramalama's process group: watched until empty after this process dies."""
        self._send(f"group {pgid}\n")


class GroupWatchdog(_Owner):
    """A watchdog that kills this process's child groups if this process dies first."""

    def __init__(self, interpreter: str | None = None) -> None:
        super().__init__([KILL_GROUPS], KILL_GROUPS, interpreter)
        self.wait_ready()

    def tell_group(self, pgid: int) -> None:
        """A child's own process group: killed if this process dies before ``forget_group``."""
        self._send(f"group {pgid}\n")

    def forget_group(self, pgid: int) -> None:
        """The group is gone (its leader reaped): its number may now be reused."""
        self._send(f"forget {pgid}\n")


_live: weakref.WeakSet[_Owner] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for dog in list(_live):
        dog._close_in_child()
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
