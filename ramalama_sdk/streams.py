"""The objects that ``stream()`` returns: iterate for text, then read the result.

The request is sent when iteration starts. Leaving the loop early (break,
an exception, a cancelled task) closes the connection, which tells
llama-server to stop generating. After the loop, ``message``,
``finish_reason``, ``usage`` and ``completion()`` hold the whole reply.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .errors import APIConnectionError, RamalamaError
from .http.connections import StreamBody, TransportFailure
from .http.streaming import SSEDecoder, StreamEvent, StreamState
from .progress import EngineProgressCallback
from .types import ChatMessage, Completion, ToolCall, Usage

if TYPE_CHECKING:
    import aiohttp

ErrorMapper = Callable[[TransportFailure], RamalamaError]
DoneHook = Callable[[Completion], None]


class _Stream:
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


class ChatStream(_Stream):
    """A streamed reply: ``for delta in model.stream("Hi"): ...``."""

    def __init__(
        self,
        open_response: Callable[[], StreamBody],
        map_error: ErrorMapper,
        on_done: DoneHook | None = None,
        on_progress: EngineProgressCallback | None = None,
    ) -> None:
        super().__init__(on_done, on_progress)
        self._open = open_response
        self._map_error = map_error
        self._response: StreamBody | None = None
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        self._begin()
        return self._texts()

    def _texts(self) -> Iterator[str]:
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

    def events(self) -> Generator[StreamEvent, None, None]:
        """Iterate over reasoning and answer text alike, as they arrive:

        for event in model.stream("Why?").events():
            print(event.text, end="", file=thoughts if event.kind == "reasoning" else out)
        """
        self._begin()
        return self._events()

    def _events(self) -> Generator[StreamEvent, None, None]:
        self._decoder = SSEDecoder()
        body = self._response = self._open()
        chunks = body.chunks()
        try:
            try:
                for chunk in chunks:
                    yield from self._take(chunk)
            except Exception as exc:
                if self._closed:  # close() from another thread: a plain end
                    return
                if isinstance(exc, TransportFailure):
                    raise self._map_error(exc) from None
                raise
            if self._closed:
                return
            yield from self._finish()
        finally:
            self._state.end_progress()
            chunks.close()
            body.close()

    def close(self) -> None:
        """Stop receiving: closes the connection, the server stops generating.

        Safe from another thread (a "stop generating" button): the loop
        that iterates the stream then ends without an error, and ``done``
        stays False.
        """
        self._closed = True
        if self._response is not None:
            self._response.close()

    def __enter__(self) -> ChatStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncChatStream(_Stream):
    """A streamed reply: ``async for delta in model.stream("Hi"): ...``."""

    def __init__(
        self,
        open_response: Callable[[], Awaitable[aiohttp.ClientResponse]],
        map_error: Callable[[BaseException], Awaitable[RamalamaError]],
        on_done: DoneHook | None = None,
        on_progress: EngineProgressCallback | None = None,
    ) -> None:
        super().__init__(on_done, on_progress)
        self._open = open_response
        self._map_error = map_error
        self._response: aiohttp.ClientResponse | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        self._begin()
        return self._texts()

    async def _texts(self) -> AsyncIterator[str]:
        events = self._events()
        try:
            async for event in events:
                if event.kind == "content":
                    yield event.text
        finally:
            await events.aclose()  # left early: the connection closes now

    async def _read_all(self) -> None:
        """Receive the whole reply (for calls that return it whole); an
        exception on the way closes the connection at once."""
        events = self.events()
        try:
            async for _ in events:
                pass
        finally:
            await events.aclose()

    def events(self) -> AsyncGenerator[StreamEvent, None]:
        """Reasoning and answer text alike, as they arrive: ``async for event in ...``."""
        self._begin()
        return self._events()

    async def _events(self) -> AsyncGenerator[StreamEvent, None]:
        import aiohttp

        self._decoder = SSEDecoder()
        response = self._response = await self._open()
        try:
            try:
                async for chunk in response.content.iter_any():
                    for event in self._take(chunk):
                        yield event
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise await self._map_error(exc) from None
            for event in self._finish():
                yield event
        finally:
            self._state.end_progress()
            response.close()  # cut short, this tells the server to stop generating

    async def aclose(self) -> None:
        """Stop receiving: closes the connection, the server stops generating."""
        if self._response is not None:
            self._response.close()

    async def __aenter__(self) -> AsyncChatStream:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()
