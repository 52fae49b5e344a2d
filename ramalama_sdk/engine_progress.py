"""What the engine reports while it works: loading a model, reading a prompt (pure).

- **load**: llama-server logs the stages of a load (reading the model,
  warming it up, preparing the slots, loaded); :class:`LoadProgressParser`
  finds them in the server's log while ``serve()`` waits for it to answer.
- **prompt**: with ``"return_progress": true`` in a streamed request,
  llama-server sends, before the first token and after each batch of the
  prompt it has processed, an event whose delta is empty and which carries
  ``"prompt_progress": {"total": N, "cache": C, "processed": P, "time_ms": T}``
  (``processed`` counts the cached tokens too); :func:`prompt_progress`
  reads it.

``progress.py`` holds the reporters (the default bar) that receive them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard


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
