"""The aiohttp connections of the async shells (hand-written, like
``_sync/transport.py``, whose names it mirrors one for one).

Failures come out as ``TransportFailure``: the shells map them to the
SDK's errors the same way on both sides.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

from ...errors import RamalamaError
from ...http.connections import Canceller, TransportFailure
from ..core import CONNECT_TIMEOUT
from .io import to_thread

if TYPE_CHECKING:
    import aiohttp

_CLOSE = {"Connection": "close"}
# Requests beyond this many in flight wait on the client for a connection:
# llama-server runs one thread per connection, and a thousand concurrent
# connections make it slower for all of them.
MAX_CONNECTIONS = 64


class Transport:
    """The aiohttp session of one served or connected model, in one loop."""

    def __init__(self, request_timeout: float, *, trust_env: bool) -> None:
        self._timeout = request_timeout
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._base = ""
        self._root = ""

    async def open(self) -> None:
        """Import aiohttp (0.2-0.4 s the first time) in a thread, off the loop."""
        if "aiohttp" not in sys.modules:
            await to_thread(importlib.import_module, "aiohttp")
        import aiohttp

        self._loop = asyncio.get_running_loop()
        self._session = aiohttp.ClientSession(
            # request_timeout bounds each wait for data (as the blocking model's
            # socket timeout does), not the whole reply: a stream that keeps
            # producing tokens is never cut off.
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=CONNECT_TIMEOUT, sock_read=self._timeout
            ),
            # Idle connections are dropped before llama-server drops them (5 s).
            connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=4),
            # No proxy for loopback, the environment's elsewhere.
            trust_env=self._trust_env,
        )

    def bind(self, base_url: str, *, pooled: bool) -> None:
        """Send later requests to ``base_url`` (``http://HOST:PORT/v1``)."""
        self._base = base_url
        self._root = base_url.removesuffix("/v1")

    def check_loop(self, model: str) -> None:
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise RamalamaError(
                f"this AsyncRamalamaModel of {model!r} was served or "
                "connected in another event loop, and its connections belong to "
                "that loop: use it there, or make a new model object in this loop"
            )

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        *,
        root: bool = False,
        cancel: Canceller | None = None,
    ) -> tuple[int, bytes]:
        """Send a request that is answered in one piece: (status, body);
        ``cancel`` calls it off while it is on its way."""
        url = (self._root if root else self._base) + path
        if cancel is None:
            return await self._exchange(method, url, body, headers)
        exchange = asyncio.ensure_future(self._exchange(method, url, body, headers))
        hook = self._in_loop(exchange.cancel)
        cancel.on_close(hook)
        try:
            await asyncio.wait({exchange})
        except BaseException:  # this task was cancelled: so is the request
            exchange.cancel()
            raise
        finally:
            cancel.done_with(hook)
        if exchange.cancelled():
            raise TransportFailure(ConnectionAbortedError("the request was cancelled"))
        return exchange.result()

    async def _exchange(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        import aiohttp

        response = await self._send(method, url, body, headers)
        try:
            return response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _failure(exc) from None
        finally:
            response.release()

    def _in_loop(self, action: Callable[[], object]) -> Callable[[], None]:
        """``action`` as a hook that ``Canceller.close()`` may run from any
        thread: aiohttp's objects are touched in their own loop only."""
        loop = self._loop
        assert loop is not None

        def hook() -> None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                action()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(action)

        return hook

    async def open_stream(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        cancel: Canceller,
    ) -> _AiohttpBody:
        """Send a request whose answer is read as it arrives; ``cancel``
        calls it off while the answer is awaited."""
        sending = asyncio.ensure_future(self._send(method, self._base + path, body, headers))
        cancel.on_close(self._in_loop(sending.cancel))
        try:
            await asyncio.wait({sending})
        except BaseException:  # this task was cancelled: so is the request
            sending.cancel()
            raise
        if sending.cancelled():
            raise TransportFailure(ConnectionAbortedError("the stream was closed"))
        stream = _AiohttpBody(sending.result())
        cancel.on_close(self._in_loop(stream.close))
        return stream

    async def probe(self, url: str) -> bool:
        import aiohttp

        assert self._session is not None
        try:
            timeout = aiohttp.ClientTimeout(total=2.0, sock_connect=1.0)
            # Closed after each answer, as in the sync probe.
            headers = {"Connection": "close"}
            async with self._session.get(url, timeout=timeout, headers=headers) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    async def peek(self, path: str, headers: dict[str, str], timeout: float) -> bytes | None:
        """GET a root ``path`` on a connection of its own, waiting at most
        ``timeout`` seconds; the body of a 200 answer, or None (no answer in
        time, an error, another status)."""
        import aiohttp

        if self._session is None:
            return None
        try:
            limit = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, CONNECT_TIMEOUT))
            url, headers = self._root + path, {**headers, **_CLOSE}
            async with self._session.get(url, timeout=limit, headers=headers) as answer:
                return await answer.read() if answer.status == 200 else None
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            await session.close()
        else:  # its loop is another, maybe closed
            _forget_session(session)

    def forget(self) -> None:
        """Close without the loop (gone, or not running at exit)."""
        session, self._session = self._session, None
        if session is not None:
            _forget_session(session)

    async def _send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> aiohttp.ClientResponse:
        import aiohttp

        if self._session is None:
            raise TransportFailure(ConnectionAbortedError("the model was stopped"))
        for attempt in (1, 2):  # see RETRY_NOTE in models/core.py
            try:
                return await self._session.request(method, url, data=body, headers=headers)
            except aiohttp.ClientConnectionError as exc:
                if attempt == 2 or isinstance(exc, asyncio.TimeoutError):
                    raise _failure(exc) from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise _failure(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover


def _failure(exc: BaseException) -> TransportFailure:
    import aiohttp

    return TransportFailure(
        exc,
        timed_out=isinstance(exc, asyncio.TimeoutError),
        connecting=isinstance(exc, aiohttp.ConnectionTimeoutError),
    )


class _AiohttpBody:
    """A streamed aiohttp response as the async streams read it."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    async def read(self) -> bytes:
        import aiohttp

        try:
            return await self._response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _failure(exc) from None
        finally:
            self._response.release()

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        import aiohttp

        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise _failure(exc) from None

    def close(self) -> None:
        self._response.close()  # cut short, this tells the server to stop generating


def _forget_session(session: aiohttp.ClientSession) -> None:
    """Close a session without its event loop (gone, or not running at exit).

    Its sockets are closed, and aiohttp has no "Unclosed client session" or
    "Unclosed connector" to report at exit.
    """
    if session.closed:
        return
    connector = session.connector
    session.detach()
    close = getattr(connector, "_close", None)  # the synchronous part of close()
    if close is not None:
        try:
            close()
        except Exception:  # a loop already closed: nothing left to close
            pass


# What the streams are made of: how one opens, its body, how its failures read.
Body = _AiohttpBody
Opener = Callable[[Canceller], Awaitable[Body]]
ErrorMapper = Callable[[TransportFailure], Awaitable[RamalamaError]]
