"""What every request of a model shares: headers, bodies, endpoints, errors; no I/O.

``ModelCore`` (``core.py``) inherits it and sets the state it reads.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..endpoints import embeddings
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    RamalamaError,
    ServerNotRunningError,
    UnsupportedError,
)
from ..http import images, protocol
from ..options import ModelOptions
from ..process.server import Server
from ..progress import EngineProgressCallback, ProgressChoice
from ..types import ChatMessage

DEFAULT_LOG_LINES = 20
CONNECT_TIMEOUT = 5.0  # seconds to open a connection to the server
# chat() and complete() receive a reply that may be long as a stream, and
# return it whole: llama-server stops generating once a stream's connection
# closes (Ctrl-C, a cancelled task, request_timeout), but it generates a
# non-streamed reply to its end (measured: all 2047 tokens of the context)
# with nobody waiting for it. A reply of at most this many tokens comes in one
# piece, which costs a short call less.
SHORT_REPLY_TOKENS = 64


class RequestCore:
    """The request half of a model: set up by ``ModelCore.__init__``."""

    options: ModelOptions
    _progress: ProgressChoice
    _server: Server | None
    _attached_url: str | None
    _key: str | None

    def _headers(self, *, own_connection: bool = False) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key}"
        if own_connection:  # llama-server closes a connection after a streamed reply
            headers["Connection"] = "close"
        return headers

    def _complete_body(
        self,
        messages: object,
        options: Mapping[str, object],
        *,
        stream: bool = False,
        target: str | None = None,
    ) -> bytes:
        """Check everything the user gave, before anything is sent."""
        self._check_chattable()
        name = self._target(target)
        checked_messages = protocol.check_history(messages)
        if not checked_messages:
            raise ValueError("messages must hold at least one message")
        checked_messages, rest = images.with_images(checked_messages, options)
        checked = self._ask_progress(protocol.check_options(rest), stream)
        return protocol.chat_body(name, checked_messages, checked, stream=stream)

    def _user_turn(
        self, text: str, options: Mapping[str, object]
    ) -> tuple[ChatMessage, dict[str, object]]:
        """A conversation's next user message, its images read once, here:
        the history then records what the model saw. The options left."""
        (user,), rest = images.with_images(protocol.chat_messages(text), options)
        return user, rest

    def _check_chattable(self) -> None:
        """A server this object started for embed() or rerank() does not chat
        (llama-server answers 500): refuse before anything is sent."""
        if self._attached_url is not None:
            return
        served_for = embeddings.served_for(self.options.runtime_args)
        if served_for is not None:
            raise UnsupportedError(
                f"{self.options.model!r} is served for {served_for}: chat(), complete() "
                f"and stream() need a model served without {embeddings.OPTION[served_for]}"
            )

    def _ask_progress(self, checked: dict[str, object], stream: bool) -> dict[str, object]:
        """Ask llama-server for the prompt's progress in a stream that reports it."""
        if stream and self._progress.wants_prompt(connected=self._attached_url is not None):
            checked["return_progress"] = True
        return checked

    def _prompt_reporter(self) -> EngineProgressCallback | None:
        """The callback of one streamed reply's prompt progress."""
        connected = self._attached_url is not None
        return self._progress.prompt_reporter(self.options.model, connected=connected)

    def _reply_streamed(self, options: Mapping[str, object]) -> bool:
        """Whether chat() or complete() receives this reply as a stream:
        unless ``max_tokens`` (the call's, else the model's) keeps it short,
        and no progress callback of the caller's wants the prompt's progress."""
        if self._progress.streams_every_reply():
            return True
        limit = protocol.reply_limit(options)
        if limit is None:
            limit = self.options.max_tokens
        return not (isinstance(limit, int) and 0 < limit <= SHORT_REPLY_TOKENS)

    def _target(self, name: str | None) -> str:
        """The model a request names: this one; a router's takes ``name``."""
        return self.options.model if name is None else name

    def _endpoint(self) -> str:
        """Where to send requests, or ServerNotRunningError."""
        if self._attached_url is not None:
            return self._attached_url
        server = self._server
        if server is None or not server.alive:
            raise self._not_running()
        return server.base_url

    def _not_running(self) -> ServerNotRunningError:
        server = self._server
        if server is None:
            return ServerNotRunningError(
                f"{self.options.model!r} is not being served: call serve() "
                "first, or use the model in a 'with' block"
            )
        code = server.exit_code
        tail = "\n".join(server.log.tail(DEFAULT_LOG_LINES))
        return ServerNotRunningError(
            f"the server of {self.options.model!r} has stopped (exit code "
            f"{code}); call serve() to start it again\n"
            f"--- last lines of the server log ---\n{tail}"
        )

    def _transport_error(
        self,
        exc: BaseException,
        *,
        timed_out: bool,
        served_by: Server | None = None,
        connecting: bool = False,
    ) -> RamalamaError:
        """A connection failure as the user should see it.

        ``served_by`` is the server the request went to: if ``stop()`` (or
        a new ``serve()``) replaced it meanwhile, that is the cause.
        """
        if served_by is not None and self._server is not served_by:
            return ServerNotRunningError(
                f"the model {self.options.model!r} was stopped while the request ran"
            )
        if self._server is not None and not self._server.alive:
            return self._not_running()
        if timed_out and connecting:
            return APITimeoutError(
                f"could not connect to the server within {CONNECT_TIMEOUT:g} s "
                "(it is overloaded, or not there)"
            )
        if timed_out:
            return APITimeoutError(
                f"no answer within {self.options.request_timeout:g} s (request_timeout)"
            )
        return APIConnectionError(f"connection to the server failed: {exc}")
