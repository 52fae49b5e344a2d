"""One supervised ramalama child: spawn, log capture, stop, never orphaned.

A child is started in a session (process group) of its own, so that stopping
it reaches llama-server too, with its output in a log file rather than the
user's console. On Linux it also gets a parent-death signal: if the Python
process dies, even by SIGKILL, the kernel sends ramalama SIGINT, on which
ramalama kills llama-server and exits.

The kernel sends that signal when the *thread* that forked the child ends,
not the process, so every child is forked by one long-lived daemon thread
rather than by whichever thread happened to call ``serve()``.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import fcntl
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, TypeVar

import psutil

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_LOG_TAIL_BYTES = 64 * 1024
# A server writes ~820 bytes per request to its log: once the part between
# the first and the last 64 KiB grows past this, its blocks are freed.
_LOG_TRIM_AT = 4 * 1024 * 1024
_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02


def _load_prctl() -> Callable[[int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
        signal_fn = libc.signal
    except (OSError, AttributeError):
        return None
    prctl.restype = ctypes.c_int
    signal_fn.restype = ctypes.c_void_p
    signal_fn.argtypes = [ctypes.c_int, ctypes.c_void_p]

    def die_with_parent(parent: int, sig: int) -> int:
        # The child inherits an ignored SIGINT (a script started with '&'
        # or nohup); Python then never turns SIGINT into KeyboardInterrupt
        # and ramalama would not kill llama-server. Restore the default.
        signal_fn(signal.SIGINT, 0)
        result = int(prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0))
        if os.getppid() != parent:  # the parent died before prctl took hold
            os._exit(1)
        return result

    return die_with_parent


_die_with_parent = _load_prctl()


def _load_fallocate() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fallocate = ctypes.CDLL(None, use_errno=True).fallocate
    except (OSError, AttributeError):
        return None
    fallocate.restype = ctypes.c_int
    fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    return fallocate


_fallocate = _load_fallocate()


class _Spawner:
    """A daemon thread that forks every child and outlives the callers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[
            tuple[Callable[[], object], concurrent.futures.Future[object]]
        ] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, fn: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            # After a fork the thread is gone in the child process.
            if self._thread is None or self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._queue,),
                    name="ramalama-sdk-spawner",
                    daemon=True,
                )
                self._pid = os.getpid()
                self._thread.start()
            self._queue.put((fn, future))  # type: ignore[arg-type]
        return future

    @staticmethod
    def _run(
        jobs: queue.SimpleQueue[tuple[Callable[[], object], concurrent.futures.Future[object]]],
    ) -> None:
        while True:
            fn, future = jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # handed to the caller, not lost
                future.set_exception(exc)


_spawner = _Spawner()


def spawn(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    stdout: int | IO[bytes] | None,
    stderr: int | IO[bytes] | None,
    before: Callable[[], None] | None = None,
) -> concurrent.futures.Future[subprocess.Popen[bytes]]:
    """Start ``argv`` in its own session, tied to this process's life.

    ``before`` runs first, in the same worker thread (a wait that must not
    block an event loop); if it raises, nothing is started.
    """
    parent = os.getpid()
    die = _die_with_parent

    def preexec() -> None:
        # A program that blocks signals (the block-then-sigwait() shutdown
        # pattern) passes its mask on through fork and exec: ramalama would
        # then hold the parent-death SIGINT pending forever. Unblock all.
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        if die is not None:
            die(parent, signal.SIGINT)

    def start() -> subprocess.Popen[bytes]:
        if before is not None:
            before()
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            env=env,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )

    return _spawner.submit(start)


def free_port(host: str) -> int:
    """A TCP port that is free on ``host`` now (the server may still lose a race)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def stop_group(popen: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a child and every process of its group; return when all are gone.

    The whole group gets SIGKILL. Neither process has anything to save: a
    server's state is its memory, and a pull resumes from its partial file.
    The gentler signals cost time for nothing: on SIGTERM ramalama exits
    alone and leaves llama-server serving, llama-server itself takes ~0.1 s
    to act on SIGTERM, and ramalama's SIGINT path (it kills llama-server,
    then shuts Python down) ~0.3 s. ``timeout`` bounds the wait for a
    process that even SIGKILL does not end at once (uninterruptible I/O).
    """
    pgid = popen.pid  # start_new_session made the child its group leader
    members = _group_members(pgid)
    _signal_group(pgid, signal.SIGKILL)
    for proc in members:  # in case one left the group
        try:
            proc.kill()
        except psutil.Error:
            pass
    popen.wait()
    wait_exited(members, timeout=timeout)


def wait_exited(procs: Sequence[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited; return those still running.

    Exited means every thread has ended, so the process's ports and files
    are free, even if it is not reaped yet. Grandchildren such as
    llama-server are reaped by init, which on some hosts (containers whose
    PID 1 is not an init) takes a second or more: waiting for the reaping,
    as psutil.wait_procs does, would make every stop that slow. A zombie
    thread-group leader is not enough either: its other threads may still
    be closing the listening socket. A pidfd tells exactly.
    """
    deadline = time.monotonic() + timeout
    alive = []
    for proc in procs:
        if not _wait_one(proc, max(0.0, deadline - time.monotonic())):
            alive.append(proc)
    return alive


def _wait_one(proc: psutil.Process, timeout: float) -> bool:
    """Whether ``proc`` has exited within ``timeout`` seconds."""
    try:
        if not proc.is_running():  # gone, or its pid reused by another
            return True
        fd = os.pidfd_open(proc.pid)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return True
    except (AttributeError, OSError):  # no pidfd (not Linux >= 5.3): poll
        return _poll_exited(proc, timeout)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(timeout * 1000))
    finally:
        os.close(fd)


def _poll_exited(proc: psutil.Process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            exited = proc.status() == psutil.STATUS_ZOMBIE and proc.num_threads() <= 1
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:  # cannot tell: not exited
            exited = False
        if exited or time.monotonic() >= deadline:
            return exited
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def stop_spawned(future: concurrent.futures.Future[subprocess.Popen[bytes]]) -> None:
    """Stop what ``spawn()`` started, once it has started; idempotent."""
    try:
        popen = future.result()
    except Exception:  # it never started: nothing to stop
        return
    if popen.poll() is None:
        stop_group(popen)


def running_elsewhere(pid: int) -> bool:
    """Whether ``pid`` runs, asked by a process that is not its parent."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_members(pid: int) -> list[psutil.Process]:
    """The processes to wait for when stopping the group that ``pid`` leads.

    By parentage: children that left the group would escape killpg. By
    group too: once ramalama itself has died (``kill <its pid>``),
    llama-server is an orphan that only its group still names.
    """
    found: dict[int, psutil.Process] = {}
    try:
        for child in psutil.Process(pid).children(recursive=True):
            found[child.pid] = child
    except psutil.Error:
        pass
    for other in psutil.pids():
        if other == pid or other in found:
            continue
        try:
            if os.getpgid(other) == pid:
                found[other] = psutil.Process(other)
        except (OSError, psutil.Error):
            continue
    return list(found.values())


def kill_group(pgid: int) -> None:
    """SIGKILL every process of a group, without waiting."""
    _signal_group(pgid, signal.SIGKILL)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class LogFile:
    """An anonymous temp file that receives a child's stdout and stderr.

    The file is unlinked as soon as it is made: it lives while a descriptor
    refers to it (this process's, the child's), so nothing is left in the
    temp directory however either process ends, SIGKILL included. Children
    write in append mode and this process reads with ``pread``, so neither
    moves the other's offset.
    """

    def __init__(self, prefix: str) -> None:
        fd, path = tempfile.mkstemp(prefix=prefix, suffix=".log")
        os.unlink(path)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        self._handle: IO[bytes] | None = os.fdopen(fd, "ab")
        self._saved: list[str] = []
        self._freed_to = _LOG_TAIL_BYTES  # the first 64 KiB (start-up) are kept

    @property
    def handle(self) -> IO[bytes]:
        if self._handle is None:
            raise ValueError("log file is closed")
        return self._handle

    def read_from(self, offset: int) -> bytes:
        """What has been written from byte ``offset`` on (nothing once closed)."""
        if self._handle is None:
            return b""
        fd = self._handle.fileno()
        size = os.fstat(fd).st_size
        chunks = []
        while offset < size:
            chunk = os.pread(fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)

    def tail(self, lines: int = 20) -> list[str]:
        """The last ``lines`` lines written (kept in memory once closed)."""
        if self._handle is None:
            return self._saved[-lines:] if lines > 0 else []
        size = os.fstat(self._handle.fileno()).st_size
        data = self.read_from(max(0, size - _LOG_TAIL_BYTES)).replace(b"\0", b"")
        text = data.decode("utf-8", errors="replace")
        return text.splitlines()[-lines:] if lines > 0 else []

    def bound(self) -> None:
        """Free the blocks of the log's middle once it has grown large.

        The file keeps its size (children append at its end), and reads as
        zeros where it was freed; ``tail()`` reads the end only. Without
        hole punching (not Linux, or a file system without it), the log
        is left as it is.
        """
        if self._handle is None or _fallocate is None:
            return
        fd = self._handle.fileno()
        end = (os.fstat(fd).st_size - _LOG_TAIL_BYTES) & ~0xFFF
        if end - self._freed_to < _LOG_TRIM_AT:
            return
        mode = _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE
        if _fallocate(fd, mode, self._freed_to, end - self._freed_to) == 0:
            self._freed_to = end

    def close(self, keep: int = 200) -> None:
        """Keep the last ``keep`` lines in memory and let the file go."""
        if self._handle is None:
            return
        self._saved = self.tail(keep)
        self._handle.close()
        self._handle = None
