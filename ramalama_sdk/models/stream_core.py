"""What the sync and async streams share: the reply as it assembles; no I/O.

The streams themselves (``_async/streams.py`` and its generated twin) only
receive bytes; decoding them and assembling the reply happens here once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..engine_progress import EngineProgressCallback
from ..errors import APIConnectionError
from ..http.cancelling import cancelled_error
from ..http.connections import Canceller
from ..http.streaming import SSEDecoder, StreamEvent, StreamState
from ..types import ChatMessage, Completion, ToolCall, Usage

DoneHook = Callable[[Completion], None]


class StreamCore:
    def __init__(
        self, on_done: DoneHook | None, on_progress: EngineProgressCallback | None = None
    ) -> None:
        self._state = StreamState(on_progress)
        self._started = False
        self._on_done = on_done

    @property
    def text(self) -> str:
        """The reply text received so far."""
        return self._state.text

    @property
    def message(self) -> ChatMessage:
        """The reply as a ChatMessage (complete once the stream has ended)."""
        return self._state.message

    @property
    def reasoning(self) -> str | None:
        """A thinking model's reasoning received so far; None if none came."""
        return self._state.reasoning

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The reply's tool calls, assembled from their deltas (whole once ended)."""
        return self._state.tool_calls

    @property
    def finish_reason(self) -> str | None:
        """Why generation ended (``stop``, ``length``); None until it has."""
        return self._state.finish_reason

    @property
    def usage(self) -> Usage:
        return self._state.usage

    @property
    def done(self) -> bool:
        """Whether the server sent the whole reply."""
        return self._state.done

    def completion(self) -> Completion:
        """Message, finish reason, usage and timings, as ``complete()`` returns them."""
        return self._state.completion()

    def _begin(self) -> None:
        if self._started:
            raise RuntimeError("a stream can be iterated only once")
        self._started = True

    def _stopped(self) -> bool:
        """Whether the stream was closed: a plain end after ``close()``,
        RequestCancelledError after the model's ``cancel()`` or a CancelToken's."""
        if self._cancel.cancelled:
            raise cancelled_error(self._cancel)
        return self._cancel.closed

    def _take(self, chunk: bytes) -> Iterator[StreamEvent]:
        for payload in self._decoder.feed(chunk):
            yield from self._state.add_events(payload)

    def _finish(self) -> Iterator[StreamEvent]:
        for payload in self._decoder.flush():
            yield from self._state.add_events(payload)
        if not self._state.done:
            raise APIConnectionError("the stream ended before the reply was complete")
        if self._on_done is not None:
            self._on_done(self._state.completion())

    _decoder: SSEDecoder
    _cancel: Canceller
