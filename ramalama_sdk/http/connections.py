"""A bounded pool of kept-alive HTTP connections to a served model.

A chat with a small model takes a few milliseconds, and requests with
urllib3 add about half a millisecond to each: ~10 % on such a model. The
blocking model sends its non-streaming requests to the server it started
over plain ``http.client`` connections instead, and keeps requests for
streams and for servers elsewhere (proxies, TLS).

The pool keeps urllib3's guarantees:

- a connection goes back to the pool only after a complete answer; any
  exception on the way (``KeyboardInterrupt`` included) closes it, which
  also tells llama-server to stop generating the abandoned reply;
- at most ``maxsize`` idle connections are kept, whatever the number of
  threads that ever sent a request (thread-per-request servers);
- after ``os.fork()`` the child never uses, nor shuts down, the parent's
  connections.
"""

from __future__ import annotations

import functools
import http.client
import os
import socket
import threading
from collections.abc import Callable, Generator, Mapping
from typing import Protocol
from urllib.parse import urlsplit

DEFAULT_MAXSIZE = 16
_CHUNK = 64 * 1024  # a read of a stream returns what has arrived, up to this


class TransportFailure(Exception):
    """The request failed before a complete answer came; ``cause`` says why."""

    def __init__(
        self, cause: BaseException, *, connecting: bool = False, timed_out: bool | None = None
    ) -> None:
        super().__init__(str(cause))
        self.cause = cause
        # socket.timeout is a TimeoutError; other transports say it themselves.
        self.timed_out = isinstance(cause, TimeoutError) if timed_out is None else timed_out
        self.connecting = connecting  # it failed before a connection was made


class Canceller:
    """How a stream that is still waiting for its answer is called off.

    ``close()`` (a "stop" button, from any thread) runs the hook that the
    transport set while the request was on its way: llama-server then never
    generates the reply, or stops generating it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._cancelled = False
        self._cancelled_by: str | None = None
        self._hook: Callable[[], object] | None = None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def cancelled(self) -> bool:
        """Closed by ``cancel()``: the call fails (RequestCancelledError)
        instead of ending quietly as a closed stream does."""
        return self._cancelled

    @property
    def cancelled_by(self) -> str | None:
        """What cancelled it first (for the error's message)."""
        return self._cancelled_by

    def cancel(self, by: str) -> None:
        """Close, and make the call that owns this fail; ``by`` says what stopped it."""
        with self._lock:
            if self._cancelled_by is None:
                self._cancelled_by = by
        self._cancelled = True
        self.close()

    def done_with(self, hook: Callable[[], object]) -> None:
        """Forget ``hook`` once its request has ended: a connection that goes
        back to the pool must not be shut down by a later ``close()``."""
        with self._lock:
            if self._hook is hook:
                self._hook = None

    def on_close(self, hook: Callable[[], object]) -> None:
        """Run ``hook`` on ``close()``, at once if that has already come."""
        with self._lock:
            if not self._closed:
                self._hook = hook
                return
        hook()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            hook, self._hook = self._hook, None
        if hook is not None:
            hook()


class StreamBody(Protocol):
    """A streamed answer's body as a stream reads it, whatever the transport."""

    status: int

    def read(self) -> bytes:
        """The whole body (an error's); TransportFailure if the transfer breaks."""
        ...

    def chunks(self) -> Generator[bytes, None, None]:
        """The bytes as they arrive; TransportFailure if the transfer breaks."""
        ...

    def close(self) -> None:
        """Stop receiving; safe from another thread while ``chunks()`` runs."""
        ...


class _OneWrite(http.client.HTTPConnection):
    """An ``HTTPConnection`` that sends a request's headers and its body in one
    write. http.client writes them apart, and the server then wakes up and
    reads twice; in one write a small model's chat comes back about 0.13 ms
    sooner (``make bench``, chat overhead)."""

    _body: bytes | None = None
    _sent: bytes | None = None

    def endheaders(self, message_body: object = None, *, encode_chunked: bool = False) -> None:
        if type(message_body) is bytes and message_body and not encode_chunked:
            self._body = message_body
        try:
            super().endheaders(message_body, encode_chunked=encode_chunked)  # type: ignore[arg-type]
        finally:
            self._body = self._sent = None

    def send(self, data: object) -> None:
        body, sent = self._body, self._sent
        if body is not None and type(data) is bytes:  # the header block
            self._body, self._sent = None, body
            super().send(data + body)
        elif sent is not None:  # the body, already on its way
            self._sent = None
            if data is not sent and data != sent:  # http.client sends it as given
                raise http.client.HTTPException("the request body changed on its way")
        else:
            super().send(data)  # type: ignore[arg-type]


class ConnectionPool:
    """``request()`` to one ``http://host:port``, safe to call from any thread."""

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float,
        timeout: float,
        maxsize: int = DEFAULT_MAXSIZE,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"not an http:// URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        # The server's own routes (/props, /tokenize) sit beside /v1, not in it.
        self._root = self._prefix.removesuffix("/v1")
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []  # most recent last
        self._busy: set[http.client.HTTPConnection] = set()
        self._pid = os.getpid()
        self._closed = False

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        *,
        root: bool = False,
        cancel: Canceller | None = None,
    ) -> tuple[int, bytes]:
        """Send once, and once more on a new connection if a kept-alive one
        turned out closed before the server read anything. ``cancel`` shuts
        the connection down while the answer is awaited."""
        for attempt in (1, 2):
            # The retry takes a new connection: other idle ones may be as stale.
            connection, fresh = self._acquire(reuse=attempt == 1)
            reusable = False
            sock = connection.sock
            assert sock is not None
            hook = functools.partial(shut_down, sock)
            if cancel is not None:
                cancel.on_close(hook)
            try:
                if cancel is not None and cancel.closed:
                    raise TransportFailure(ConnectionAbortedError("the request was cancelled"))
                try:
                    target = (self._root if root else self._prefix) + path
                    connection.request(method, target, body, dict(headers))
                except OSError as exc:
                    if attempt == 1 and not fresh:
                        continue
                    raise TransportFailure(exc) from exc
                try:
                    response = connection.getresponse()
                    data = response.read()
                except (
                    http.client.RemoteDisconnected,
                    ConnectionResetError,
                    BrokenPipeError,
                ) as exc:
                    # A stale connection is closed at once, before any answer.
                    if attempt == 1 and not fresh:
                        continue
                    raise TransportFailure(exc) from exc
                except (OSError, http.client.HTTPException) as exc:
                    raise TransportFailure(exc) from exc
                reusable = not response.will_close
                return response.status, data
            finally:
                # Whatever left the block early (an error, KeyboardInterrupt,
                # an exception from a signal handler) leaves the connection
                # in the middle of an exchange: it is closed, never reused.
                if cancel is not None:
                    cancel.done_with(hook)
                    reusable = reusable and not cancel.closed
                self._release(connection, reusable)
        raise AssertionError("unreachable")  # pragma: no cover

    def open_stream(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: Mapping[str, str],
        cancel: Canceller | None = None,
    ) -> PooledStream:
        """Send a request whose answer is read as it comes, on a connection
        of its own: llama-server closes a connection after a streamed reply.
        ``cancel`` shuts the connection down while the answer is awaited."""
        connection, _ = self._acquire(reuse=False)
        # getresponse() hands a closing connection's socket to the response.
        sock = connection.sock
        assert sock is not None
        if cancel is not None:
            cancel.on_close(lambda: shut_down(sock))
        try:
            connection.request(method, self._prefix + path, body, dict(headers))
            response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            self._release(connection, False)
            raise TransportFailure(exc) from exc
        except BaseException:
            self._release(connection, False)
            raise
        return PooledStream(self, connection, sock, response)

    def close(self) -> None:
        """Close every connection; requests in flight fail at once, later
        ones are refused."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy) if self._pid == os.getpid() else []
        for connection in idle:
            connection.close()
        for connection in busy:
            # Wakes the thread blocked on this connection; it closes it.
            sock = connection.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _acquire(self, *, reuse: bool) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._pid != os.getpid():
                self._forget_inherited()
            if self._closed:
                raise TransportFailure(OSError("the model was stopped"))
            if reuse and self._idle:
                connection = self._idle.pop()
                self._busy.add(connection)
                return connection, False
        connection = _OneWrite(self._host, self._port, timeout=self._connect_timeout)
        try:
            connection.connect()
        except OSError as exc:
            connection.close()
            raise TransportFailure(exc, connecting=True) from exc
        except BaseException:
            connection.close()
            raise
        assert connection.sock is not None
        connection.sock.settimeout(self._timeout)
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._closed:
                connection.close()
                raise TransportFailure(OSError("the model was stopped"))
            self._busy.add(connection)
        return connection, True

    def _release(self, connection: http.client.HTTPConnection, reusable: bool) -> None:
        with self._lock:
            self._busy.discard(connection)
            keep = (
                reusable
                and not self._closed
                and self._pid == os.getpid()
                and len(self._idle) < self._maxsize
            )
            if keep:
                self._idle.append(connection)
        if not keep:
            connection.close()

    def _forget_inherited(self) -> None:
        """In a forked child: the parent's sockets are the parent's."""
        for connection in [*self._idle, *self._busy]:
            # Closing this process's descriptor leaves the parent's open.
            connection.close()
        self._idle, self._busy = [], set()
        self._pid = os.getpid()


def shut_down(sock: socket.socket) -> None:
    """Wake a thread blocked on ``sock``; the peer sees the connection end."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed
        pass


class PooledStream:
    """An answer read as it arrives, on a connection that is closed after it."""

    def __init__(
        self,
        pool: ConnectionPool,
        connection: http.client.HTTPConnection,
        sock: socket.socket,
        response: http.client.HTTPResponse,
    ) -> None:
        self._pool = pool
        self._connection = connection
        self._sock = sock
        self._response = response
        self._lock = threading.Lock()
        self._reading = False
        self._closed = False
        self.status = response.status

    def read(self) -> bytes:
        """The whole body (an error's), then the connection is closed."""
        try:
            return self._response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise TransportFailure(exc) from exc
        finally:
            self.close()

    def chunks(self) -> Generator[bytes, None, None]:
        with self._lock:
            if self._closed:
                return
            self._reading = True
        try:
            while True:
                try:
                    data = self._response.read1(_CHUNK)
                except (OSError, ValueError, http.client.HTTPException) as exc:
                    if self._closed:  # close() from another thread: a plain end
                        return
                    raise TransportFailure(exc) from exc
                if not data:
                    return
                yield data
        finally:
            with self._lock:
                self._reading = False
            self._release()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            reading = self._reading
        if reading:
            # Wakes the thread blocked in chunks(), which closes the connection;
            # closing it here could pull the file from under its read.
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        else:
            self._release()

    def _release(self) -> None:
        self._response.close()
        self._pool._release(self._connection, False)
