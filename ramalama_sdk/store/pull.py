"""The steps of ``download()``: optional removal, then ``ramalama pull``.

A generator of steps (see process/steps.py), so that the sync and the async model
share it. ramalama's output goes to a private log file; its progress bar,
when a callback wants it, is read from there while the pull runs.

ramalama keys a ``file://`` model by its full path and keeps the copy it
took: pulling a file that changed since does nothing. So for a ``file://``
model the steps first ask ``ramalama inspect`` where the stored copy is, and
compare it with the file: a copy whose size differs, or older than the
file's last change, is removed and the file copied again.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Generator, Sequence
from dataclasses import dataclass

from ..errors import DownloadError
from ..process import failures
from ..process.command_steps import run_to_end
from ..process.steps import Step
from .progress import ProgressCallback, PullMonitor, strip_bar


def run_steps(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    progress: ProgressCallback | None = None,
    lines: int = 50,
) -> Generator[Step, object, tuple[int, str]]:
    """Run one ramalama command to its end; return (exit code, its last ``lines``).

    ``progress`` gets the progress bar of a pull; the bar's segments are left
    out of the lines returned.
    """
    watcher = None if progress is None else functools.partial(PullMonitor, callback=progress)
    code, tail = yield from run_to_end(argv, env, watcher=watcher, lines=lines)
    return code, "\n".join(strip_bar(tail))


@dataclass(frozen=True)
class Refresh:
    """How to check and renew the stored copy of a ``file://`` model."""

    inspect_argv: Sequence[str]  # ramalama inspect --json MODEL: where the copy is
    rm_argv: Sequence[str]  # ramalama rm --ignore MODEL


def local_file(model: str) -> str | None:
    """The file a ``file://`` model names (as ramalama reads it), else None.

    >>> local_file("file:///models/m.gguf"), local_file("hf://org/repo")
    ('/models/m.gguf', None)
    """
    return model[len("file://") :] if model.startswith("file://") else None


def stored_copy(inspect_output: str) -> str | None:
    """The stored file's path in ``ramalama inspect --json`` output, if it says.

    >>> stored_copy('{"Name": "m.gguf", "Path": "/store/blobs/sha256-1"}')
    '/store/blobs/sha256-1'
    >>> stored_copy("Error: Model not found") is None
    True
    """
    try:
        data = json.loads(inspect_output[inspect_output.find("{") :])
    except ValueError:
        return None
    path = data.get("Path") if isinstance(data, dict) else None
    return path if isinstance(path, str) and path else None


def is_stale(source: os.stat_result, copy: os.stat_result) -> bool:
    """Whether a stored copy no longer matches its file: another size, or a
    file changed after the copy was taken (the copy's time is when it was made)."""
    return source.st_size != copy.st_size or source.st_mtime_ns > copy.st_mtime_ns


def _freshness(source: str, copy: str | None) -> bool | None:
    """True: the copy matches the file; False: it is stale; None: no copy
    (or no file left to compare with, when the stored copy is all there is)."""
    if copy is None:
        return None
    try:
        return not is_stale(os.stat(source), os.stat(copy))
    except OSError:
        return None if not os.path.exists(copy) else True


def download_steps(
    model: str,
    pull_argv: Sequence[str],
    rm_argv: Sequence[str] | None,
    env: dict[str, str],
    *,
    progress: ProgressCallback | None = None,
    refresh: Refresh | None = None,
) -> Generator[Step, object, None]:
    """``ramalama rm --ignore`` first when given (a forced re-pull), then pull.

    With ``refresh``, a ``file://`` model's stored copy is checked first: a
    fresh one needs no pull, a stale one is removed and copied again.
    ``progress`` sees a ``file://`` copy as (0, size) then (size, size):
    ramalama copies it in one go and prints nothing.
    """
    source = local_file(model)
    copying = source is not None and rm_argv is not None
    if source is not None and rm_argv is None and refresh is not None:
        code, output = yield from run_steps(refresh.inspect_argv, env, lines=100_000)
        fresh = _freshness(source, stored_copy(output) if code == 0 else None)
        if fresh:
            return  # ramalama's pull would keep this copy: nothing to do
        if fresh is False:
            rm_argv = refresh.rm_argv
        copying = True
    if rm_argv is not None:
        code, output = yield from run_steps(rm_argv, env)
        if code != 0:
            said = failures.error_line(output)
            raise DownloadError(
                f"could not remove {model!r} before pulling it again: {said} (exit code {code})",
                model=model,
                command=rm_argv,
                exit_code=code,
                output=output,
            )
    if copying and source is not None and progress is not None:
        yield from _copy_steps(model, source, pull_argv, env, progress)
        return
    code, output = yield from run_steps(pull_argv, env, progress=progress)
    if code != 0:
        raise failures.download_error(model, pull_argv, code, output)


def _copy_steps(
    model: str,
    source: str,
    pull_argv: Sequence[str],
    env: dict[str, str],
    progress: ProgressCallback,
) -> Generator[Step, object, None]:
    """Pull a ``file://`` model, reporting the copy as it begins and ends."""
    try:
        total: int | None = os.stat(source).st_size
    except OSError:
        total = None  # ramalama says what is wrong with it
    if total is not None:
        progress(0, total)
    code, output = yield from run_steps(pull_argv, env)
    if code != 0:
        raise failures.download_error(model, pull_argv, code, output)
    if total is not None:
        progress(total, total)
    close = getattr(progress, "close", None)
    if callable(close):
        close()


def chained(*parts: Generator[Step, object, None]) -> Generator[Step, object, None]:
    """Steps of several downloads, one after the other (a model and its draft)."""
    for part in parts:
        yield from part
