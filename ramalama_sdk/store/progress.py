"""How far a ``ramalama pull`` has got, read from ramalama's own output.

ramalama 0.25 draws a progress bar on stderr while it downloads over HTTP
(Hugging Face, Ollama, ModelScope and plain URLs), one ``\\r``-led segment
every 0.1 s, then ``\\n``::

    Downloading big.gguf
    \\r  1% |      |  513.00 KB/  30.72 MB   4.97 MB/s        6s\\r...
    \\r100% |██████|   30.72 MB/  30.72 MB   5.00 MB/s        0s\\n

It draws it only when its *stdout* is a terminal (``sys.stdout.isatty()``);
otherwise it prints just ``Downloading NAME``. Pulls print nothing on stdout,
so :class:`PullMonitor` hands ramalama a pseudo-terminal as stdout, keeps
stderr in the log file, and reads the bar from that file. Sizes are printed
with two decimals (1024-based units), so byte counts are exact below 1 KB
and within 0.5 % above.

The parsing is pure (:class:`ProgressParser`); the I/O never blocks, so a
blocking caller polls between ``popen.wait(timeout=...)`` calls and an async
caller between ``asyncio.sleep()`` calls::

    monitor = PullMonitor(log.read_from, callback)
    popen = spawn(argv, env=env, stdout=monitor.stdout or log.handle, stderr=log.handle).result()
    monitor.child_started()
    while popen.poll() is None:
        monitor.poll()
        time.sleep(0.1)  # or: await asyncio.sleep(0.1)
    monitor.close()
"""

from __future__ import annotations

import codecs
import contextlib
import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, NamedTuple

ProgressCallback = Callable[[int, int | None], None]
"""Called with (completed bytes, total bytes or None when unknown).

Each file of a model reports from zero up to its own total. A callback with
a ``close()`` method has it called once the pull has ended.
"""

POLL_INTERVAL = 0.1
"""Seconds between polls that match ramalama's own update rate."""

_UNITS = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5}
_SIZE = r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|PB)"
# "  4% |█    |    1.50 MB/  30.72 MB   4.96 MB/s        5s": the whole line,
# up to the estimated time, so that a segment cut short never matches.
_BAR = re.compile(
    rf"^\s*\d+%\s*\|[^|]*\|\s*{_SIZE}\s*/\s*{_SIZE}\s+{_SIZE}/s\s+[-\dhms ]*?\d+s\s*$"
)
_DOWNLOADING = re.compile(r"^Downloading (.+?)\s*$")
_SEPARATORS = re.compile(r"[\r\n]")
_MAX_PENDING = 64 * 1024


class Progress(NamedTuple):
    """One reading of the bar: bytes done, and the total (None if unknown)."""

    completed: int
    total: int | None


def size_bytes(number: str, unit: str) -> int:
    """A size as ramalama prints it, in bytes.

    >>> size_bytes("513.00", "KB"), size_bytes("30.72", "MB"), size_bytes("0.00", "B")
    (525312, 32212255, 0)
    """
    return round(float(number) * (1 << (10 * _UNITS[unit])))


def parse_bar(segment: str) -> Progress | None:
    """One segment of the bar, or None if it is not one (or not whole yet).

    >>> parse_bar("  3% |      |    1.00 MB/  30.72 MB   4.96 MB/s        5s")
    Progress(completed=1048576, total=32212255)
    >>> parse_bar("100% |████|    1.00 MB/    0.00 B   4.97 MB/s   59m 59s")
    Progress(completed=1048576, total=None)
    >>> parse_bar("  3% |      |    1.00 MB/  30.7") is None
    True
    """
    match = _BAR.match(segment)
    if match is None:
        return None
    completed = size_bytes(match.group(1), match.group(2))
    # Without a Content-Length ramalama knows no total and prints 0.
    total = size_bytes(match.group(3), match.group(4)) or None
    return Progress(completed, total)


class ProgressParser:
    """Turns the text of a pull's stderr, fed in any pieces, into updates.

    >>> parser = ProgressParser()
    >>> parser.feed("Downloading m.gguf\\n\\r 50% |█ |  512.00 B/    1.00 KB   1.00 KB/s")
    []
    >>> parser.feed("        0s\\r100% |██|    1.00 KB/    1.00 KB   1.00 KB/s        0s\\n")
    [Progress(completed=512, total=1024), Progress(completed=1024, total=1024)]
    >>> parser.file
    'm.gguf'

    Lines that are not the bar (errors, warnings) are skipped.
    """

    def __init__(self) -> None:
        self.file: str | None = None
        """The file being downloaded, from the ``Downloading NAME`` line."""
        self._pending = ""
        self._last: Progress | None = None

    def feed(self, text: str) -> list[Progress]:
        """The new updates that ``text``, the next piece of output, brings."""
        *segments, self._pending = _SEPARATORS.split(self._pending + text)
        if len(self._pending) > _MAX_PENDING:  # not ramalama's bar: forget it
            self._pending = self._pending[-_MAX_PENDING:]
        updates = [u for u in map(self._segment, segments) if u is not None]
        # The last segment is shown as soon as it is whole: ramalama ends it
        # only with the next update, 0.1 s later.
        tail = self._update(parse_bar(self._pending))
        if tail is not None:
            updates.append(tail)
        return updates

    def close(self) -> list[Progress]:
        """The updates from what is left once the output has ended."""
        pending, self._pending = self._pending, ""
        update = self._segment(pending)
        return [update] if update is not None else []

    def _segment(self, segment: str) -> Progress | None:
        started = _DOWNLOADING.match(segment)
        if started:
            self.file = started.group(1)
            self._last = None  # a new file counts from zero again
            return None
        return self._update(parse_bar(segment))

    def _update(self, progress: Progress | None) -> Progress | None:
        if progress is None or progress == self._last:
            return None
        self._last = progress
        return progress


class PullMonitor:
    """Follows one running pull: gives it a terminal, reads its log, reports.

    ``stdout`` is the descriptor to give the child as its stdout (None where
    no pseudo-terminal can be had: then no bar is drawn and none reported).
    Call :meth:`child_started` once the child runs, :meth:`poll` as often as
    wanted while it runs (it never blocks) and :meth:`close` at the end.
    """

    def __init__(
        self,
        log: str | Callable[[int], bytes],
        callback: ProgressCallback,
        parser: ProgressParser | None = None,
    ) -> None:
        # A path, or a function that returns what was written from an offset
        # on (``LogFile.read_from``: the SDK's logs have no path).
        self._read_from = log if callable(log) else _path_reader(log)
        self.callback = callback
        self.parser = ProgressParser() if parser is None else parser
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._offset = 0
        self._master: int | None = None
        self._slave: int | None = None
        self._closed = False
        try:
            self._master, self._slave = os.openpty()
            os.set_blocking(self._master, False)
        except (OSError, AttributeError):  # no pty support on this system
            self._close_fds()

    @property
    def stdout(self) -> int | None:
        """The terminal end for the child, until :meth:`child_started`."""
        return self._slave

    def child_started(self) -> None:
        """Drop this process's copy of the child's terminal end."""
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def poll(self) -> None:
        """Read what the pull wrote since the last call and report it."""
        self._drain_terminal()
        for update in self.parser.feed(self._read_new()):
            self.callback(update.completed, update.total)

    def close(self) -> None:
        """Report the last updates, release the terminal, close the callback."""
        if self._closed:
            return
        self._closed = True
        try:
            self.poll()
            updates = self.parser.feed(self._decoder.decode(b"", final=True))
            for update in updates + self.parser.close():
                self.callback(update.completed, update.total)
        finally:
            self._close_fds()
            close = getattr(self.callback, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> PullMonitor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read_new(self) -> str:
        data = self._read_from(self._offset)
        self._offset += len(data)
        return self._decoder.decode(data)

    def _drain_terminal(self) -> None:
        # A pull writes nothing on stdout; whatever does come is read and
        # dropped so that a full terminal buffer can never block the child.
        if self._master is None:
            return
        with contextlib.suppress(OSError):  # EAGAIN: empty; EIO: child gone
            while os.read(self._master, 65536):
                pass

    def _close_fds(self) -> None:
        for fd in (self._slave, self._master):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._slave = self._master = None


def _path_reader(path: str) -> Callable[[int], bytes]:
    def read_from(offset: int) -> bytes:
        try:
            with open(path, "rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:  # not created yet, or already removed
            return b""

    return read_from


def strip_bar(lines: list[str]) -> list[str]:
    """Log lines without the progress bar's segments, for error messages.

    >>> strip_bar(["Downloading m", "100% |█|  1.00 KB/  1.00 KB  1.00 KB/s  0s", "Error: x"])
    ['Downloading m', 'Error: x']
    """
    return [line for line in lines if parse_bar(line) is None]


def default_reporter(model: str) -> ProgressCallback | None:
    """A tqdm progress bar for ``model``, or None for silence.

    A bar is drawn when stderr is a terminal or the code runs in a Jupyter
    (IPython) kernel, and tqdm can be imported; tqdm is optional.
    """
    bar_class = visible_bar_class()
    return None if bar_class is None else TqdmReporter(bar_class, model)


def visible_bar_class() -> Callable[..., Any] | None:
    """tqdm's bar class where someone can see a bar (stderr a terminal, or a
    Jupyter kernel) and tqdm can be imported; else None. tqdm is optional."""
    kernel = _in_kernel()
    if not (kernel or _stderr_is_terminal()):
        return None
    # tqdm's notebook bar needs ipywidgets; without it tqdm.auto warns
    # (TqdmWarning: IProgress not found) and draws text anyway.
    widgets = kernel and importlib.util.find_spec("ipywidgets") is not None
    try:
        module = importlib.import_module("tqdm.auto" if widgets else "tqdm")
    except ImportError:
        return None
    bar_class: Callable[..., Any] = module.tqdm
    return bar_class


class TqdmReporter:
    """A :data:`ProgressCallback` that draws one tqdm bar per downloaded file."""

    def __init__(self, bar_class: Callable[..., Any], description: str) -> None:
        self._bar_class = bar_class
        self._description = description
        self._bar: Any = None

    def __call__(self, completed: int, total: int | None) -> None:
        bar = self._bar
        if bar is not None and completed < bar.n:  # the next file has begun
            self.close()
            bar = None
        if bar is None:
            bar = self._bar = self._bar_class(
                total=total,
                desc=self._description,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
            )
        if bar.total != total:
            bar.total = total
        bar.update(completed - bar.n)

    def close(self) -> None:
        """End the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _stderr_is_terminal() -> bool:
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def _in_kernel() -> bool:
    # Only a kernel already running has IPython imported; never import it.
    ipython = sys.modules.get("IPython")
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return shell is not None and getattr(shell, "kernel", None) is not None
