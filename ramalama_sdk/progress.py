"""What the engine reports while it works: loading a model, reading a prompt.

Pure parsing, and a tqdm bar as the default reporter:

- **load**: llama-server logs the stages of a load (reading the model,
  warming it up, preparing the slots, loaded); :class:`LoadProgressParser`
  finds them in the server's log while ``serve()`` waits for it to answer.
- **prompt**: with ``"return_progress": true`` in a streamed request,
  llama-server sends, before the first token and after each batch of the
  prompt it has processed, an event whose delta is empty and which carries
  ``"prompt_progress": {"total": N, "cache": C, "processed": P, "time_ms": T}``
  (``processed`` counts the cached tokens too); :func:`prompt_progress`
  reads it.

A callback gets :class:`EngineProgress` values; the default draws a bar
where someone can see it, as ``download()`` does, and only once the work has
lasted a moment (short prompts and fast loads draw nothing).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from .store.progress import _in_kernel, _stderr_is_terminal

# A bar appears only for work that lasts longer than this (tqdm's ``delay``).
BAR_DELAY = 0.5


@dataclass(frozen=True)
class EngineProgress:
    """How far the engine has got with a model load or a prompt.

    ``stage`` is ``"load"`` (``done`` of ``total`` stages of the load that
    llama-server logs, ``detail`` naming it: reading the model, warming up,
    preparing the slots, model loaded, ready) or ``"prompt"`` (``done``
    prompt tokens in the context so far, of ``total``; ``cached`` of them
    were reused from an earlier request and cost nothing).

    >>> EngineProgress("prompt", 512, 2048, cached=0).fraction
    0.25
    """

    stage: Literal["load", "prompt"]
    done: int
    total: int
    cached: int = 0
    detail: str = ""

    @property
    def fraction(self) -> float:
        """``done / total``, 0 to 1 (1 for an empty total)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 1.0


EngineProgressCallback = Callable[[EngineProgress], None]
"""Called with each :class:`EngineProgress`; a ``close()`` method, if any, is
called once the load or the prompt is over."""


# What llama-server logs at its default verbosity while it loads a model, in
# order (llama.cpp 11434): the stages of the load. It reports no fraction of
# the tensors read (no load dots at this level, none at all for a mmap'd file).
LOAD_STAGES = (
    ("load_model: loading model", "reading the model"),
    ("warming up the model", "warming up"),
    ("load_model: initializing", "preparing the slots"),
    ("llama_server: model loaded", "model loaded"),
)
LOAD_TOTAL = len(LOAD_STAGES) + 1  # and last: the server answers


class LoadProgressParser:
    """The stages of a load that llama-server's log shows, fed in any pieces.

    >>> parser = LoadProgressParser()
    >>> parser.feed("0.00.003 I srv    load_model: loading model '/m.gguf'\\n0.00.9 I cmn  comm")
    [EngineProgress(stage='load', done=1, total=5, cached=0, detail='reading the model')]
    >>> [p.done for p in parser.feed("on_init_: warming up the model with an empty run\\n")]
    [2]
    >>> [p.detail for p in parser.feed("I srv  llama_server: model loaded\\n")]
    ['model loaded']

    A stage never goes back: a draft model's own ``loading model`` line,
    after the main model's, reports nothing.
    """

    def __init__(self) -> None:
        self._reached = 0
        self._line = ""

    def feed(self, text: str) -> list[EngineProgress]:
        updates: list[EngineProgress] = []
        *lines, self._line = (self._line + text).split("\n")
        if len(self._line) > 4096:  # no line of interest is this long
            self._line = self._line[-256:]
        for line in lines:
            for number, (marker, detail) in enumerate(LOAD_STAGES, start=1):
                if number > self._reached and marker in line:
                    self._reached = number
                    updates.append(EngineProgress("load", number, LOAD_TOTAL, detail=detail))
        return updates


def ready() -> EngineProgress:
    """The last stage of a load: the server answers."""
    return EngineProgress("load", LOAD_TOTAL, LOAD_TOTAL, detail="ready")


def prompt_progress(event: Mapping[str, Any]) -> EngineProgress | None:
    """The prompt progress a streamed event carries, if any.

    >>> prompt_progress({"choices": [], "prompt_progress":
    ...                  {"total": 900, "cache": 100, "processed": 612, "time_ms": 80}})
    EngineProgress(stage='prompt', done=612, total=900, cached=100, detail='')
    >>> prompt_progress({"choices": []}) is None
    True
    """
    data = event.get("prompt_progress")
    if not isinstance(data, Mapping):
        return None
    done, total, cached = (data.get(key) for key in ("processed", "total", "cache"))
    if not (_count(done) and _count(total) and _count(cached)):
        return None
    return EngineProgress("prompt", done, total, cached=cached)


def _count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def bar_visible() -> bool:
    """Whether someone can see a bar: stderr is a terminal, or a Jupyter kernel runs."""
    return _in_kernel() or _stderr_is_terminal()


def default_reporter(description: str) -> EngineProgressCallback | None:
    """A tqdm bar for the engine's progress, or None for silence.

    As for downloads: a bar when stderr is a terminal or the code runs in a
    Jupyter kernel and tqdm can be imported; nothing elsewhere.
    """
    kernel = _in_kernel()
    if not (kernel or _stderr_is_terminal()):
        return None
    widgets = kernel and importlib.util.find_spec("ipywidgets") is not None
    try:
        module = importlib.import_module("tqdm.auto" if widgets else "tqdm")
    except ImportError:
        return None
    return TqdmEngineReporter(module.tqdm, description)


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
