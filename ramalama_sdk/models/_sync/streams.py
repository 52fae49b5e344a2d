# Generated from ramalama_sdk/models/_async/streams.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""The object that ``stream()`` returns: iterate for text, then read the result.

The request is sent when iteration starts. Leaving the loop early (break,
an exception, a cancellation) closes the connection, which tells
llama-server to stop generating. After the loop, ``message``,
``finish_reason``, ``usage`` and ``completion()`` hold the whole reply.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

from ...engine_progress import EngineProgressCallback
from ...http.cancelling import CancelToken
from ...http.connections import Canceller, TransportFailure
from ...http.streaming import SSEDecoder, StreamEvent
from ..stream_core import DoneHook, StreamCore
from .transport import Body, ErrorMapper, Opener


class ChatStream(StreamCore):
    """A streamed reply: ``for delta in model.stream("Hi"): ...``."""

    def __init__(
        self,
        open_response: Opener,
        map_error: ErrorMapper,
        on_done: DoneHook | None = None,
        on_progress: EngineProgressCallback | None = None,
        cancel: Canceller | None = None,
        token: CancelToken | None = None,
    ) -> None:
        super().__init__(on_done, on_progress)
        self._open = open_response
        self._map_error = map_error
        self._response: Body | None = None
        # Inside a call (a chat() received as a stream), the call's canceller.
        self._cancel = cancel or Canceller()
        self._owns_cancel = cancel is None
        if token is not None:  # RequestCancelledError now if it is already cancelled
            token.add(self._cancel)

    def __iter__(self) -> Iterator[str]:
        self._begin()
        return self._texts()

    def _texts(self) -> Generator[str, None]:
        events = self._events()
        try:
            for event in events:
                if event.kind == "content":
                    yield event.text
        finally:
            events.close()  # left early: the connection closes now

    def _read_all(self) -> None:
        """Receive the whole reply (for calls that return it whole); an
        exception on the way closes the connection at once."""
        events = self.events()
        try:
            for _ in events:
                pass
        finally:
            events.close()

    def events(self) -> Generator[StreamEvent, None]:
        """Reasoning and answer text alike, as they arrive:

        for event in model.stream("Why?").events():
            print(event.text, end="", file=thoughts if event.kind == "reasoning" else out)
        """
        self._begin()
        return self._events()

    def _events(self) -> Generator[StreamEvent, None]:
        self._decoder = SSEDecoder()
        try:
            if self._stopped():  # closed before it began: nothing is sent
                return
            try:
                body = self._open(self._cancel)
            except TransportFailure as failure:
                if self._stopped():  # closed while waiting for the answer
                    return
                raise self._map_error(failure) from None
            self._response = body
            chunks = body.chunks()
            try:
                try:
                    for chunk in chunks:
                        for event in self._take(chunk):
                            yield event
                except Exception as exc:
                    if self._stopped():  # close() from elsewhere: a plain end
                        return
                    if isinstance(exc, TransportFailure):
                        raise self._map_error(exc) from None
                    raise
                if self._stopped():
                    return
                for event in self._finish():
                    yield event
            finally:
                self._state.end_progress()
                chunks.close()
                body.close()  # cut short, this tells the server to stop generating
        finally:
            if self._owns_cancel:  # ended: nothing left for the model's cancel()
                self._cancel.close()

    def close(self) -> None:
        """Stop receiving: the server stops generating, or never starts.

        Safe from elsewhere in the program (a "stop generating" button), also
        before the first token has come: the loop that iterates the stream
        then ends without an error, and ``done`` stays False.
        """
        self._cancel.close()
        if self._response is not None:
            self._response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
