"""The engine's progress as a user sees it: the default bar, or a callback.

A callback gets :class:`~ramalama_sdk.engine_progress.EngineProgress` values
(parsed in ``engine_progress.py``); the default draws a bar where someone can
see it, as ``download()`` does, and only once the work has lasted a moment
(short prompts and fast loads draw nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .engine_progress import EngineProgress, EngineProgressCallback
from .store.progress import _in_kernel, _stderr_is_terminal, visible_bar_class

__all__ = ["EngineProgress", "EngineProgressCallback", "ProgressChoice", "default_reporter"]

# A bar appears only for work that lasts longer than this (tqdm's ``delay``).
BAR_DELAY = 0.5


def bar_visible() -> bool:
    """Whether someone can see a bar: stderr is a terminal, or a Jupyter kernel runs."""
    return _in_kernel() or _stderr_is_terminal()


def default_reporter(description: str) -> EngineProgressCallback | None:
    """A tqdm bar for the engine's progress, or None for silence.

    As for downloads: a bar when stderr is a terminal or the code runs in a
    Jupyter kernel and tqdm can be imported; nothing elsewhere.
    """
    bar_class = visible_bar_class()
    return None if bar_class is None else TqdmEngineReporter(bar_class, description)


class ProgressChoice:
    """A model's ``progress=`` option: where the engine's reports go.

    ``callback`` is the caller's function, or None; ``auto`` (the default)
    means a bar where one can be seen and nothing elsewhere. Prompt progress
    needs a streamed reply: a caller's callback has every reply streamed;
    the default bar only asks for it in replies that are streamed anyway.
    """

    def __init__(self, callback: object, *, auto: bool, runtime: str) -> None:
        if not auto and callback is not None and not callable(callback):
            raise TypeError("progress must be a callable, None or left out")
        self.callback: EngineProgressCallback | None = None if auto else callback  # type: ignore[assignment]
        self.auto = auto
        # Only llama-server reports progress.
        self.engine_reports = runtime == "llama.cpp"

    def reporter(self, description: str) -> EngineProgressCallback | None:
        """The callback for one load or one prompt (a fresh bar by default)."""
        return default_reporter(description) if self.auto else self.callback

    def wants_prompt(self, *, connected: bool = False) -> bool:
        """Whether streamed requests ask llama-server for ``return_progress``.

        The default bar asks only the servers the SDK started: a server
        connected to may be another kind, which the extra field could upset.
        """
        if not self.engine_reports:
            return False
        if self.auto:
            return not connected and bar_visible()
        return self.callback is not None

    def prompt_reporter(
        self, description: str, *, connected: bool = False
    ) -> EngineProgressCallback | None:
        """The callback of one streamed reply's prompt progress, if it is asked for."""
        return self.reporter(description) if self.wants_prompt(connected=connected) else None

    def streams_every_reply(self) -> bool:
        """A caller's callback hears every prompt: no reply comes in one piece."""
        return self.engine_reports and self.callback is not None


class TqdmEngineReporter:
    """An :data:`EngineProgressCallback` that draws one tqdm bar per load or prompt."""

    def __init__(self, bar_class: Callable[..., Any], description: str) -> None:
        self._bar_class = bar_class
        self._description = description
        self._bar: Any = None
        self._stage: str | None = None

    def __call__(self, progress: EngineProgress) -> None:
        bar = self._bar
        if bar is not None and (progress.stage != self._stage or progress.done < bar.n):
            self.close()
            bar = None
        if bar is None:
            label = "loading" if progress.stage == "load" else "prompt"
            bar = self._bar = self._bar_class(
                total=progress.total,
                desc=f"{self._description}: {label}",
                unit=" step" if progress.stage == "load" else " tok",
                delay=BAR_DELAY,
                leave=False,
            )
            self._stage = progress.stage
        if bar.total != progress.total:
            bar.total = progress.total
        if progress.detail:
            bar.set_postfix_str(progress.detail, refresh=False)
        bar.update(progress.done - bar.n)

    def close(self) -> None:
        """End the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._stage = None
