"""The blocking connections of the generated shells (hand-written, like
``_async/transport.py``, whose names it mirrors one for one).

Failures come out as ``TransportFailure``: the shells map them to the
SDK's errors the same way on both sides.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from ...errors import RamalamaError
from ...http.connections import Canceller, ConnectionPool, StreamBody, TransportFailure
from ..core import CONNECT_TIMEOUT


class Transport:
    """The connections of one served or connected model.

    A served model sends its requests over pooled ``http.client``
    connections (``http/connections.py``: a chat on a small model comes back
    measurably sooner than with urllib3); a server elsewhere, which may need
    the environment's proxy or TLS, gets a requests session. Failures are
    ``TransportFailure`` either way.
    """

    def __init__(self, request_timeout: float, *, trust_env: bool) -> None:
        self._timeout = request_timeout
        self._session = _new_session(trust_env=trust_env)
        self._pool: ConnectionPool | None = None
        self._base = ""
        self._root = ""

    def open(self) -> None:
        """Nothing to prepare: requests was imported with this module."""

    def bind(self, base_url: str, *, pooled: bool) -> None:
        """Send later requests to ``base_url`` (``http://HOST:PORT/v1``)."""
        self._base = base_url
        self._root = base_url.removesuffix("/v1")
        if pooled:
            self._pool = ConnectionPool(
                base_url, connect_timeout=CONNECT_TIMEOUT, timeout=self._timeout
            )

    def check_loop(self, model: str) -> None:
        """Only an async transport belongs to an event loop."""

    def request(
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
        if self._pool is not None:
            return self._pool.request(method, path, body, headers, root=root, cancel=cancel)
        if cancel is None:
            response = self._send(method, path, body, headers, root=root, stream=False)
            return response.status_code, response.content
        # Streamed, so that the response can be closed from another thread.
        response = self._send(method, path, body, headers, root=root, stream=True)
        stream = _RequestsBody(response)
        cancel.on_close(stream.close)
        try:
            return stream.status, stream.read()
        finally:
            cancel.done_with(stream.close)

    def open_stream(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        cancel: Canceller,
    ) -> StreamBody:
        """Send a request whose answer is read as it arrives."""
        if self._pool is not None:
            return self._pool.open_stream(method, path, body, headers, cancel)
        response = self._send(method, path, body, headers, root=False, stream=True)
        stream = _RequestsBody(response)
        cancel.on_close(stream.close)
        return stream

    def probe(self, url: str) -> bool:
        try:
            # Closed after each answer: a kept-alive probe connection would
            # otherwise stay open, unused, for the life of the model.
            with self._session.get(url, timeout=(1.0, 2.0), headers=_CLOSE) as response:
                return response.status_code == 200
        except requests.RequestException:
            return False

    def peek(self, path: str, headers: dict[str, str], timeout: float) -> bytes | None:
        """GET a root ``path`` on a connection of its own, waiting at most
        ``timeout`` seconds for each read; the body of a 200 answer, or None
        (no answer in time, an error, another status)."""
        try:
            limits = (min(timeout, CONNECT_TIMEOUT), timeout)
            with self._session.get(
                self._root + path, timeout=limits, headers={**headers, **_CLOSE}
            ) as answer:
                return answer.content if answer.status_code == 200 else None
        except requests.RequestException:
            return None

    def close(self) -> None:
        """Close every connection; requests in flight fail at once."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        self._session.close()

    def forget(self) -> None:
        self.close()

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        *,
        root: bool,
        stream: bool,
    ) -> requests.Response:
        url = (self._root if root else self._base) + path
        for attempt in (1, 2):  # see RETRY_NOTE in models/core.py
            try:
                return self._session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    timeout=(CONNECT_TIMEOUT, self._timeout),
                    stream=stream,
                )
            except requests.ConnectionError as exc:
                if attempt == 2 or isinstance(exc, requests.Timeout):
                    raise _failure(exc) from None
            except requests.RequestException as exc:
                raise _failure(exc) from None
        raise AssertionError("unreachable")  # pragma: no cover


_CLOSE = {"Connection": "close"}


def _failure(exc: requests.RequestException) -> TransportFailure:
    # requests reports a read timeout inside a body as a ConnectionError.
    cause = exc.args[0] if exc.args else None
    return TransportFailure(
        exc,
        timed_out=isinstance(exc, requests.Timeout) or isinstance(cause, ReadTimeoutError),
        connecting=isinstance(exc, requests.ConnectTimeout),
    )


def _new_session(*, trust_env: bool) -> requests.Session:
    session = requests.Session()
    # Concurrent chat() calls from many threads each keep a connection.
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=64)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    # A served model is on loopback: no proxy may see that traffic. A server
    # connected to elsewhere may need the environment's proxy settings.
    session.trust_env = trust_env
    return session


class _RequestsBody:
    """A streamed requests.Response as a StreamBody."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        self.status = response.status_code

    def read(self) -> bytes:
        try:
            return self._response.content
        except requests.RequestException as exc:
            raise _failure(exc) from exc
        finally:
            self._response.close()

    def chunks(self) -> Generator[bytes, None, None]:
        try:
            # Read to the end even after [DONE]: a body read to its end
            # returns the connection to the pool for the next request.
            yield from self._response.iter_content(chunk_size=None)
        except requests.RequestException as exc:
            raise _failure(exc) from exc

    def close(self) -> None:
        self._response.close()


# What the streams are made of: how one opens, its body, how its failures read.
Body = StreamBody
Opener = Callable[[Canceller], StreamBody]
ErrorMapper = Callable[[TransportFailure], RamalamaError]
