# Generated from ramalama_sdk/models/_async/client.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""The requests of the model's shell: answered in one piece, or streamed.

Failures of the transport become the SDK's errors here, as the failures of
the server that served the request (stopped, or died), for both sides.
"""

from __future__ import annotations

from ...endpoints import info
from ...errors import APIError, RamalamaError
from ...http import cancelling, protocol
from ...http.connections import Canceller, TransportFailure
from ...process.server import Server
from ..feature_core import FeatureCore, optional_props
from . import io
from .transport import Body, ErrorMapper, Opener, Transport


class SyncClient(FeatureCore):
    """How the model's methods send their requests."""

    _transport: Transport | None = None

    def _props(self) -> bytes | None:
        if self._known_runtime() not in (None, "llama.cpp"):
            return None
        try:
            return self._call("GET", info.PROPS_PATH, None, root=True)
        except APIError as exc:
            if optional_props(exc):
                return None
            raise

    def _check_template(self, body: bytes = b"") -> None:
        """Warn (NoChatTemplateWarning) when the model has no chat template;
        UnsupportedError when ``body`` offers tools a template cannot take."""
        self._check_tools(body)
        self._warn_without_template()

    def _check_tools(self, body: bytes) -> None:
        """UnsupportedError when ``body`` offers tools the model's template
        cannot take (what the template can do is asked once per server)."""
        if self._template_unknown():
            try:
                props = self._props()
            except RamalamaError:  # best effort: the call itself reports a failure
                props = None
            self._learn_template(props)
        self._refuse_tools(body)

    def _stream_io(self, path: str, body: bytes, *, chat: bool) -> tuple[Opener, ErrorMapper]:
        """How a stream opens, and how its failures read: as the failures of
        the server that served it (stopped, or died), like any request's."""
        served_by: Server | None = None

        def open_response(cancel: Canceller) -> Body:
            nonlocal served_by
            if chat:
                self._check_template(body)
            served_by = self._server
            self._in_flight.add(cancel)  # a stream of its own: cancel() reaches it
            return self._open_stream(path, body, cancel)

        def map_error(failure: TransportFailure) -> RamalamaError:
            return self._failure(failure, served_by=served_by)

        return open_response, map_error

    def _open_stream(self, path: str, body: bytes, cancel: Canceller) -> Body:
        """Send a streamed request; its body once the status is 200.
        TransportFailure is left to the stream, which knows if it was closed."""
        transport = self._live_transport()
        headers = self._headers(own_connection=True)
        stream = transport.open_stream("POST", path, body, headers, cancel)
        if stream.status != 200:
            raise protocol.api_error(stream.status, stream.read())
        return stream

    def _call(self, method: str, path: str, body: bytes | None, *, root: bool = False) -> bytes:
        """Send a request that is answered in one piece (a POST unless told);
        return the body of its 200 answer."""
        transport = self._live_transport()
        server = self._server
        cancel = self._in_flight.current()
        if cancel is not None and cancel.cancelled:  # between the rounds of a call
            raise cancelling.cancelled_error(cancel)
        try:
            status, data = transport.request(
                method, path, body, self._headers(), root=root, cancel=cancel
            )
        except TransportFailure as failure:
            if cancel is not None and cancel.cancelled:
                raise cancelling.cancelled_error(cancel) from None
            raise self._failure(failure, served_by=server) from None
        if status != 200:
            raise protocol.api_error(status, data)
        return data

    def _live_transport(self) -> Transport:
        self._endpoint()  # raises ServerNotRunningError if it has stopped
        transport = self._transport
        if transport is None:
            raise self._not_running()
        transport.check_loop(self.options.model)
        return transport

    def _failure(self, failure: TransportFailure, served_by: Server | None = None) -> RamalamaError:
        """A failed request as the user should see it, the server's death first."""
        if not failure.timed_out and self._server is not None:
            io.settle(self._server)
        return self._transport_error(
            failure.cause,
            timed_out=failure.timed_out,
            served_by=served_by,
            connecting=failure.connecting,
        )
