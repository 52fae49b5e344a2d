"""The steps of ``download()``: optional removal, then ``ramalama pull``.

A generator of steps (see process/steps.py), so that the sync and the async model
share it. ramalama's output goes to a private log file; its progress bar,
when a callback wants it, is read from there while the pull runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Generator, Sequence

from ..errors import DownloadError
from ..process import failures
from ..process.steps import Launch, Sleep, Step
from ..process.supervisor import LogFile
from .progress import ProgressCallback, PullMonitor, strip_bar

POLL_INTERVAL = 0.02  # an up-to-date pull ends within ~0.2 s


def run_steps(
    argv: Sequence[str],
    env: dict[str, str],
    *,
    progress: ProgressCallback | None = None,
    lines: int = 50,
) -> Generator[Step, object, tuple[int, str]]:
    """Run one ramalama command to its end; return (exit code, its last ``lines``)."""
    log = LogFile(prefix="ramalama-sdk-pull-")
    monitor = PullMonitor(log.read_from, progress) if progress is not None else None
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
        return code, "\n".join(strip_bar(log.tail(lines)))
    finally:
        if monitor is not None:
            monitor.close()
        log.close(keep=0)


def download_steps(
    model: str,
    pull_argv: Sequence[str],
    rm_argv: Sequence[str] | None,
    env: dict[str, str],
    *,
    progress: ProgressCallback | None = None,
) -> Generator[Step, object, None]:
    """``ramalama rm --ignore`` first when given (a forced re-pull), then pull."""
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
    code, output = yield from run_steps(pull_argv, env, progress=progress)
    if code != 0:
        raise failures.download_error(model, pull_argv, code, output)


def chained(*parts: Generator[Step, object, None]) -> Generator[Step, object, None]:
    """Steps of several downloads, one after the other (a model and its draft)."""
    for part in parts:
        yield from part
