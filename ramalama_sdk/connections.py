"""Kept-alive HTTP connections to a served model, one per thread.

A chat with a small model takes a few milliseconds, and requests with
urllib3 add about half a millisecond to each: ~10 % on such a model. The
blocking model sends its non-streaming requests to the server it started
over plain ``http.client`` connections instead (one per thread, since a
connection carries one request at a time), and keeps requests for streams
and for servers elsewhere (proxies, TLS).
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlsplit


class TransportFailure(Exception):
    """The request failed before a complete answer came; ``cause`` says why."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.timed_out = isinstance(cause, TimeoutError)  # socket.timeout included


class ConnectionPerThread:
    """``request()`` over this thread's connection to one ``http://host:port``."""

    def __init__(self, base_url: str, *, connect_timeout: float, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"not an http:// URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[http.client.HTTPConnection] = []
        self._closed = False

    def request(
        self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]
    ) -> tuple[int, bytes]:
        """Send once, and once more on a new connection if a kept-alive one
        turned out closed before the server read anything."""
        for attempt in (1, 2):
            connection, fresh = self._connection()
            try:
                connection.request(method, self._prefix + path, body, dict(headers))
            except OSError as exc:
                self._drop(connection)
                if attempt == 1 and not fresh:
                    continue
                raise TransportFailure(exc) from exc
            try:
                response = connection.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self._drop(connection)
                # A stale connection is closed at once, before any answer.
                if attempt == 1 and not fresh:
                    continue
                raise TransportFailure(exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(connection)
                raise TransportFailure(exc) from exc
            if response.will_close:
                self._drop(connection)
            return response.status, data
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        """Close every thread's connection; later requests are refused."""
        with self._lock:
            self._closed = True
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is not None:
            return connection, False
        connection = http.client.HTTPConnection(
            self._host, self._port, timeout=self._connect_timeout
        )
        try:
            connection.connect()
        except OSError as exc:
            raise TransportFailure(exc) from exc
        assert connection.sock is not None
        connection.sock.settimeout(self._timeout)
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            if self._closed:
                connection.close()
                raise TransportFailure(OSError("the model was stopped"))
            self._all.append(connection)
        self._local.connection = connection
        return connection, True

    def _drop(self, connection: http.client.HTTPConnection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None
        with self._lock:
            if connection in self._all:
                self._all.remove(connection)
