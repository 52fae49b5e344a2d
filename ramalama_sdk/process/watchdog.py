"""A container that outlives its program is removed by a watchdog process.

In container mode the server is not a descendant of ramalama: ``podman run``
asks the engine for a container that runs under ``conmon`` (or dockerd),
outside ramalama's process group. Killing ramalama, even its whole group,
leaves the container serving. So every named container gets a watchdog: a
small detached process (its own session, stdlib only) that holds the read
end of a pipe whose write end only this process holds. However this process
ends, SIGKILL included, the kernel closes the write end; the watchdog reads
end-of-file and removes the container. A normal stop disarms it first.

The messages on the pipe are lines: ``group PGID`` (ramalama's process
group, once it exists) and ``disarm``. On end-of-file the watchdog removes
the container, and repeats while ramalama's group still has a process (a
``podman run`` client could still be creating it), until the container is
gone, for at most ``GIVE_UP`` seconds.

Run as a script: ``python -I watchdog.py ENGINE NAME`` with the pipe on stdin,
by a Python interpreter found for it: ``sys.executable`` is not one in a frozen
app (PyInstaller) or under uwsgi, and running it would start the program
again. The watchdog says ``READY`` on its stdout once it listens; one that
exits or says anything else is stopped, and the serve fails.

The same pipe guards plain child processes (:class:`GroupWatchdog`, run as
``python -I watchdog.py --kill-groups``): each child runs in a process group
of its own, told to the watchdog with ``group PGID`` and taken back with
``forget PGID`` once it has been reaped. On end-of-file the watchdog kills
every group it still holds, so a program killed by SIGKILL leaves no
compiler or server of its own running.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Sequence

GIVE_UP = 60.0  # seconds the watchdog keeps trying after its owner is gone
READY_WITHIN = 30.0  # seconds for the watchdog's interpreter to start, on a loaded machine
SETTLE = 2.0  # without a known group, how long a late container is watched for
_POLL = 0.2
_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")


class WatchdogError(RuntimeError):
    """No watchdog could be started for a container."""


def ready_line(name: str) -> bytes:
    """What a watchdog that listens for container ``name`` writes first.

    >>> ready_line("sdk-1")
    b'ramalama-sdk watchdog READY sdk-1\\n'
    """
    return f"ramalama-sdk watchdog READY {name}\n".encode()


def is_python_name(path: str) -> bool:
    """Whether an executable's name is a Python interpreter's.

    >>> [is_python_name(p) for p in ("/usr/bin/python3.11", "/v/bin/python", "/app/uwsgi")]
    [True, True, False]
    """
    return bool(_PYTHON.match(os.path.basename(path)))


def interpreter_candidates() -> list[str]:
    """Where a Python interpreter for the watchdog may be, best first.

    ``sys.executable`` unless the program is frozen or is not a Python
    (uwsgi); then the base and environment interpreters, then ``PATH``.
    """
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    found: list[str] = []
    if not getattr(sys, "frozen", False):
        found.append(sys.executable)
    found.append(getattr(sys, "_base_executable", "") or "")
    for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        for name in (version, "python3"):
            found.append(os.path.join(prefix, "bin", name))
    for name in (version, "python3"):
        found.append(shutil.which(name) or "")
    return [path for path in dict.fromkeys(found) if path]


def find_interpreter() -> str:
    """A Python interpreter to run the watchdog script, or WatchdogError."""
    for path in interpreter_candidates():
        if is_python_name(path) and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise WatchdogError(
        "no Python interpreter found to run the container watchdog (this program's "
        f"sys.executable, {sys.executable!r}, is not one): put python3 on PATH"
    )


def remove_argv(engine: str, name: str) -> list[str]:
    """The command that removes container ``name`` at once, running or not.

    >>> remove_argv("/usr/bin/podman", "sdk-1")
    ['/usr/bin/podman', 'rm', '--force', '--time', '0', '--ignore', 'sdk-1']
    >>> remove_argv("docker", "sdk-1")
    ['docker', 'rm', '--force', 'sdk-1']
    """
    if os.path.basename(engine).startswith("docker"):
        return [engine, "rm", "--force", name]  # SIGKILL; an unknown name is an error
    return [engine, "rm", "--force", "--time", "0", "--ignore", name]


def exists_argv(engine: str, name: str) -> list[str]:
    """The command that exits 0 when container ``name`` exists (both engines).

    >>> exists_argv("podman", "sdk-1")
    ['podman', 'container', 'inspect', '--format', '{{.Id}}', 'sdk-1']
    """
    return [engine, "container", "inspect", "--format", "{{.Id}}", name]


def _quiet(argv: Sequence[str], timeout: float = 30.0) -> int:
    try:
        return subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        ).returncode
    except (OSError, subprocess.TimeoutExpired):
        return -1


def remove(engine: str, name: str, timeout: float = 30.0) -> bool:
    """Remove container ``name`` now; whether the engine said it is gone."""
    return _quiet(remove_argv(engine, name), timeout) == 0


def _group_alive(pgid: int | None) -> bool:
    if pgid is None:
        return False
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, though not ours to signal
        return True
    return True


KILL_GROUPS = "--kill-groups"


class _Owner:
    """This process's end of a watchdog's pipe."""

    def __init__(self, args: Sequence[str], ready: str, interpreter: str | None = None) -> None:
        self._ready = ready
        script = os.path.abspath(__file__)
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
            f"the container watchdog ({self.interpreter} -I {__file__}) {what}; "
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


# -- the watchdog process ------------------------------------------------------


def _wait_for_owner() -> tuple[bool, list[int]]:
    """Read the pipe to its end: (disarmed, the groups told and not forgotten)."""
    groups: list[int] = []
    pending = b""
    while True:
        try:
            chunk = os.read(0, 4096)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            continue
        except OSError:
            chunk = b""
        if not chunk:
            return False, groups
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            word, _, value = line.decode("ascii", "replace").partition(" ")
            if word == "disarm":
                return True, groups
            if word == "group" and value.isdigit():
                groups.append(int(value))
            elif word == "forget" and value.isdigit() and int(value) in groups:
                groups.remove(int(value))


def _watch(engine: str, name: str) -> int:
    disarmed, groups = _wait_for_owner()
    if disarmed:
        return 0
    pgid = groups[-1] if groups else None
    started = time.monotonic()
    while True:
        _quiet(remove_argv(engine, name))
        settled = time.monotonic() - started >= (0 if pgid else SETTLE)
        if settled and not _group_alive(pgid) and _quiet(exists_argv(engine, name)) != 0:
            return 0
        if time.monotonic() - started > GIVE_UP:
            return 1
        time.sleep(_POLL)


def _group_running(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running: zombies (whose
    reaping is up to their new parent) do not count. Read from /proc, with
    ``killpg`` as the fallback where there is none."""
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return _group_alive(pgid)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as file:
                fields = file.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False


def _kill_groups() -> int:
    disarmed, groups = _wait_for_owner()
    if disarmed:
        return 0
    started = time.monotonic()
    while True:
        for pgid in groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if not any(_group_running(pgid) for pgid in groups):
            return 0
        if time.monotonic() - started > GIVE_UP:
            return 1
        time.sleep(_POLL)


def main(argv: Sequence[str]) -> int:
    groups = argv[1:] == [KILL_GROUPS]
    if not groups and len(argv) != 3:
        print(
            f"usage: watchdog.py ENGINE NAME | {KILL_GROUPS}  (the owner's pipe on stdin)",
            file=sys.stderr,
        )
        return 2
    # Only the pipe decides: a Ctrl-C or hang-up meant for the program is not for us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        os.write(1, ready_line(KILL_GROUPS if groups else argv[2]))
    except OSError:
        pass  # nobody waits for it
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # the owner closes its end after READY
    os.close(null)
    return _kill_groups() if groups else _watch(argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
