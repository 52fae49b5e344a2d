# Generated from ramalama_sdk/models/_async/text_streams.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""The object ``stream_text()`` returns: a chat stream reading text events.

It behaves like the chat stream (iterate for text; leaving early stops
generation); after the loop ``result()`` holds the whole ``TextCompletion``.
"""

from __future__ import annotations

from ...endpoints.completions import TextCompletion, TextStreamState
from .streams import ChatStream


class TextStream(ChatStream):
    """A streamed text completion: ``for delta in model.stream_text("Once"): ...``."""

    _state: TextStreamState

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._state = TextStreamState()

    def result(self) -> TextCompletion:
        """Text, finish reason, usage and timings (complete once the stream ended)."""
        return self._state.result()
