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
by a Python interpreter found for it (interpreters.py): ``sys.executable`` is
not one in a frozen app (PyInstaller) or under uwsgi, and running it would
start the program again. The watchdog says ``READY`` on its stdout once it
listens; one that exits or says anything else is stopped, and the serve fails.
This module is that script, so it imports nothing but the standard library
(``-I`` leaves the package off ``sys.path``); the owner's end of the pipe,
:class:`~ramalama_sdk.process.watchdog_owner.Watchdog`, is in watchdog_owner.py.

The same pipe guards plain child processes
(:class:`~ramalama_sdk.process.watchdog_owner.GroupWatchdog`, run as
``python -I watchdog.py --kill-groups``): each child runs in a process group
of its own, told to the watchdog with ``group PGID`` and taken back with
``forget PGID`` once it has been reaped. On end-of-file the watchdog kills
every group it still holds, so a program killed by SIGKILL leaves no
compiler or server of its own running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

GIVE_UP = 60.0  # seconds the watchdog keeps trying after its owner is gone
SETTLE = 2.0  # without a known group, how long a late container is watched for
_POLL = 0.2


class WatchdogError(RuntimeError):
    """No watchdog could be started for a container."""


def ready_line(name: str) -> bytes:
    """What a watchdog that listens for container ``name`` writes first.

    >>> ready_line("sdk-1")
    b'ramalama-sdk watchdog READY sdk-1\\n'
    """
    return f"ramalama-sdk watchdog READY {name}\n".encode()


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
