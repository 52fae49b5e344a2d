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

import http.client
import os
import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit

DEFAULT_MAXSIZE = 16


class TransportFailure(Exception):
    """The request failed before a complete answer came; ``cause`` says why."""

    def __init__(self, cause: BaseException, *, connecting: bool = False) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.timed_out = isinstance(cause, TimeoutError)  # socket.timeout included
        self.connecting = connecting  # it failed before a connection was made


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
    ) -> tuple[int, bytes]:
        """Send once, and once more on a new connection if a kept-alive one
        turned out closed before the server read anything."""
        for attempt in (1, 2):
            # The retry takes a new connection: other idle ones may be as stale.
            connection, fresh = self._acquire(reuse=attempt == 1)
            reusable = False
            try:
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
                self._release(connection, reusable)
        raise AssertionError("unreachable")  # pragma: no cover

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
        connection = http.client.HTTPConnection(
            self._host, self._port, timeout=self._connect_timeout
        )
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
