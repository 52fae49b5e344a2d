"""RamalamaModel: a served model driven with blocking calls."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from . import deploy
from .agents import agent, parsing
from .base import AUTO, CONNECT_TIMEOUT, Auto
from .conversation import Conversation
from .errors import RamalamaError, ServerNotRunningError
from .http import protocol, replies
from .http.connections import ConnectionPool, StreamBody, TransportFailure
from .process.server import Server
from .process.steps import Launch, Owns, Probe, Sleep, Spawn, Step, Stop
from .process.supervisor import spawn, stop_spawned
from .store.progress import ProgressCallback
from .streams import ChatStream, DoneHook
from .sync_features import SyncFeatures
from .text_streams import TextStream
from .types import ChatMessage, Completion

if TYPE_CHECKING:
    import pydantic
    from typing_extensions import Unpack

    from .agents.tools import ToolLike
    from .chat_options import ActOptions, ChatOptions, GenerationOptions
# RETRY_NOTE, why a request is sent once more after a connection error and
# why a stream asks for a connection of its own: llama-server closes a
# kept-alive connection once it has been idle for 5 s, and after a streamed
# reply although it announced keep-alive. Reusing such a connection fails
# before the server has read anything, and a new connection succeeds.
T = TypeVar("T")
M = TypeVar("M", bound="pydantic.BaseModel")


class RamalamaModel(SyncFeatures):
    """A local model, served by ``ramalama serve`` for as long as you need it.

        with RamalamaModel(model="tinyllama") as model:
            print(model.chat("How tall is Michael Jordan?")["content"])

    All options are keyword-only; see the README for each one. The object is
    safe to share between threads: ``chat()`` may run concurrently.
    """

    def _init_io(self) -> None:
        self._lock = threading.RLock()
        self._session: requests.Session | None = None
        self._connections: ConnectionPool | None = None
        # Set by stop() from another thread while serve() is loading.
        self._abort = threading.Event()
        self._starting = False

    def __enter__(self) -> RamalamaModel:
        self.download()
        self.serve()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def download(
        self, *, force: bool = False, progress: ProgressCallback | Auto | None = AUTO
    ) -> None:
        """Pull the model into ramalama's store (quick when it is already there).

        ``force=True`` removes the stored copy first, so a ``file://`` model
        whose file has changed is copied again. ``progress`` is called with
        (bytes done, total bytes or None) while a download runs; by default a
        tqdm bar is drawn when stderr is a terminal or a notebook, and
        nothing otherwise; None is silence.
        """
        self._drive(self._download_steps(force, progress))

    def serve(self) -> None:
        """Start the server and return once it answers; no-op if it already runs.

        Raises ServerStartError, ServerTimeoutError or a DownloadError; in
        every case nothing is left running.
        """
        with self._lock:
            if self.is_running:
                return
            self._stop_locked()
            mode, ramalama = self._resolve()
            self._session = _new_session(trust_env=False)
            self._abort.clear()
            self._starting = True
            try:
                server = self._drive(self._start_steps(mode, ramalama), abortable=True)
            except BaseException:
                _uninterrupted(self._stop_locked)
                raise
            finally:
                self._starting = False
                self._abort.clear()
            self._adopt(server, server.stop)
            self._connections = ConnectionPool(
                server.base_url,
                connect_timeout=CONNECT_TIMEOUT,
                timeout=self.options.request_timeout,
            )

    @classmethod
    def connect(
        cls,
        base_url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        request_timeout: float = 600,
    ) -> RamalamaModel:
        """Chat with a server that is already running (another process, a
        container, a Kubernetes service): no ramalama process is involved, and
        ``stop()`` leaves that server alone.

            model = RamalamaModel.connect("http://127.0.0.1:8080/v1")

        ``model`` is the name sent in requests; by default, the first that
        the server lists at ``/models``.
        """
        attached = cls(model=model or "default", request_timeout=request_timeout, api_key=False)
        attached._attach(base_url, api_key)
        attached._session = _new_session(trust_env=not attached._attached_to_loopback())
        if model is None:
            response = attached._send("GET", "/models", None, stream=False)
            attached.options = replace(
                attached.options, model=protocol.first_model(response.content)
            )
        return attached

    def generate(self, kind: str, directory: str | os.PathLike[str]) -> list[Path]:
        """Write the files that serve this model elsewhere; return their paths.

            model = RamalamaModel(model="oci://quay.io/me/granite:2b", port=8080)
            model.generate("kube", "deploy")   # [PosixPath('/abs/deploy/granite-2b.yaml')]

        ``kind``: ``"kube"`` (a Kubernetes Deployment), ``"quadlet"`` (a
        podman unit), ``"kube/quadlet"`` (both) or ``"compose"``
        (docker-compose.yaml). Runs ``ramalama serve --generate`` with this
        model's options; nothing is served and no container engine needs to
        run. Errors and warnings: see ``ramalama_sdk.deploy.generate``.
        """
        self._check_not_attached("generate deployment files")
        return deploy.generate(self.options, kind, directory)

    def stop(self) -> None:
        """Stop the server and wait until all its processes are gone; idempotent.

        Called from another thread while ``serve()`` is still loading, it
        makes that ``serve()`` give up at once (ServerNotRunningError).
        """
        if self._starting:
            self._abort.set()
        with self._lock:
            _uninterrupted(self._stop_locked)

    def _stop_locked(self) -> None:
        server = self._release()
        # Connections first: a request racing the stop then fails on the
        # client side instead of on a half-killed server.
        if self._connections is not None:
            connections, self._connections = self._connections, None
            connections.close()
        if self._session is not None:
            session, self._session = self._session, None
            session.close()
        if server is not None:
            server.stop()

    def chat(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatMessage:
        """Send ``message`` after ``history`` (not modified) and return the reply.

        The reply is ``{"role": "assistant", "content": "..."}``. Options:
        ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``,
        ``response_format`` (a JSON schema dict or a pydantic model class),
        ``tools`` and the rest of ``ChatOptions``.
        """
        if self._reply_streamed(options):
            completion = self._receive(self._chat_body(message, history, options, stream=True))
            if completion.cut_off_while_thinking:
                replies.warn_cut_off(stacklevel=3)
            return completion.message
        body = self._chat_body(message, history, options)
        self._check_template()
        return protocol.parse_chat_reply(self._post(protocol.CHAT_PATH, body))

    def complete(self, messages: list[ChatMessage], **options: Unpack[ChatOptions]) -> Completion:
        """Send a whole conversation; return message, finish reason, usage, timings,
        tool calls, reasoning and logprobs."""
        return self._complete(messages, options)

    def _complete(self, messages: list[ChatMessage], options: Mapping[str, Any]) -> Completion:
        if self._reply_streamed(options):
            return self._receive(self._complete_body(messages, options, stream=True))
        body = self._complete_body(messages, options)
        self._check_template()
        return protocol.parse_completion(self._post(protocol.CHAT_PATH, body))

    def _receive(self, body: bytes) -> Completion:
        """A reply received as a stream, returned whole (see SHORT_REPLY_TOKENS)."""
        stream = self._stream(body)
        stream._read_all()
        return stream.completion()

    def act(
        self,
        prompt: str | list[ChatMessage],
        tools: Sequence[ToolLike],
        *,
        history: list[ChatMessage] | None = None,
        max_rounds: int = 10,
        on_message: agent.MessageCallback | None = None,
        raise_tool_errors: bool = False,
        **options: Unpack[ActOptions],
    ) -> agent.ActResult:
        """Let the model call ``tools`` (plain functions) until it answers.

            result = model.act("Weather in Paris?", [get_weather, get_time])
            print(result.content, result.tool_runs)

        Each round sends the conversation, runs every tool call of the reply
        with its arguments converted to the annotated types, and sends the
        results back; it ends when a reply calls no tool. See the README.
        """
        steps = agent.start(
            prompt, history, tools, max_rounds, on_message, raise_tool_errors, options
        )
        return agent.drive(steps, self._complete)

    def parse(
        self,
        prompt: str | list[ChatMessage],
        model: type[M],
        *,
        history: list[ChatMessage] | None = None,
        retries: int = 0,
        **options: Unpack[GenerationOptions],
    ) -> M:
        """The reply as a validated instance of the pydantic class ``model``.

            city = model.parse("Name a large city.", City, retries=2)

        ``retries=N`` asks again up to N times, showing the model its reply's
        validation error; ParseError (with every reply) if none validates.
        """
        messages = parsing.prepare_parse(prompt, history, model, retries, options)
        steps = parsing.parse_steps(messages, model, retries, options)
        return parsing.drive_parse(steps, self._complete)

    def stream(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatStream:
        """Yield the reply's text as it is generated.

        stream = model.stream("Tell me a story")
        for delta in stream:
            print(delta, end="", flush=True)
        print(stream.finish_reason, stream.usage)
        """
        return self._stream(self._chat_body(message, history, options, stream=True))

    def conversation(self, system: str | None = None) -> Conversation:
        """A conversation that keeps its own history: ``say()`` and ``stream()``."""
        return Conversation(self, system)

    def _stream(self, body: bytes, on_done: DoneHook | None = None) -> ChatStream:
        return ChatStream(
            *self._stream_io(protocol.CHAT_PATH, body, chat=True), on_done, self._prompt_reporter()
        )

    def _stream_io(
        self, path: str, body: bytes, *, chat: bool
    ) -> tuple[Callable[[], StreamBody], Callable[[TransportFailure], RamalamaError]]:
        """How a stream opens, and how its failures read: as the failures of
        the server that served it (stopped, or died), like any request's."""
        served_by: Server | None = None

        def open_response() -> StreamBody:
            nonlocal served_by
            if chat:
                self._check_template()
            served_by = self._server
            return self._open_stream(path, body)

        def map_error(failure: TransportFailure) -> RamalamaError:
            return self._stream_failure(failure, served_by=served_by)

        return open_response, map_error

    # -- I/O -------------------------------------------------------------

    def _call(self, method: str, path: str, body: bytes | None, *, root: bool = False) -> bytes:
        return self._post(path, body, method=method, root=root)

    def _open_text_stream(self, body: bytes) -> TextStream:
        from .endpoints.completions import COMPLETIONS_PATH

        return TextStream(*self._stream_io(COMPLETIONS_PATH, body, chat=False))

    def _open_stream(self, path: str, body: bytes) -> StreamBody:
        """Send a streamed request; its body, to read as it arrives. Served
        models use a pooled http.client connection, others requests."""
        connections = self._connections
        if connections is None:  # connected to a server elsewhere
            return _RequestsBody(self._send("POST", path, body, stream=True))
        self._endpoint()  # raises ServerNotRunningError if it has stopped
        server = self._server
        try:
            stream = connections.open_stream("POST", path, body, self._headers(own_connection=True))
        except TransportFailure as failure:
            raise self._stream_failure(failure, served_by=server) from None
        if stream.status != 200:
            try:
                data = stream.read()
            except TransportFailure as failure:
                raise self._stream_failure(failure, served_by=server) from None
            raise protocol.api_error(stream.status, data)
        return stream

    def _stream_failure(
        self, failure: TransportFailure, served_by: Server | None = None
    ) -> RamalamaError:
        return self._failure(
            failure.cause,
            timed_out=failure.timed_out,
            served_by=served_by,
            connecting=failure.connecting,
        )

    def _post(
        self, path: str, body: bytes | None, *, method: str = "POST", root: bool = False
    ) -> bytes:
        """Send a request that is answered in one piece (a POST unless told);
        return the body. Served models reuse the pooled connections."""
        connections = self._connections
        if connections is None:  # connected to a server elsewhere
            return self._send(method, path, body, root=root).content
        self._endpoint()  # raises ServerNotRunningError if it has stopped
        server = self._server
        try:
            status, data = connections.request(method, path, body, self._headers(), root=root)
        except TransportFailure as failure:
            raise self._failure(
                failure.cause,
                timed_out=failure.timed_out,
                served_by=server,
                connecting=failure.connecting,
            ) from None
        if status != 200:
            raise protocol.api_error(status, data)
        return data

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        *,
        stream: bool = False,
        root: bool = False,
    ) -> requests.Response:
        url = (self._root_endpoint() if root else self._endpoint()) + path
        session = self._session
        server = self._server
        if session is None:
            raise self._not_running()
        headers = self._headers(own_connection=stream)
        for attempt in (1, 2):
            try:
                response = session.request(
                    method,
                    url,
                    data=body,
                    headers=headers,
                    timeout=(CONNECT_TIMEOUT, self.options.request_timeout),
                    stream=stream,
                )
                break
            except requests.ConnectionError as exc:
                if attempt == 2 or isinstance(exc, requests.Timeout) or not self.is_running:
                    raise self._stream_error(exc, served_by=server) from None
            except requests.RequestException as exc:
                raise self._stream_error(exc, served_by=server) from None
        if response.status_code != 200:
            content = response.content
            response.close()
            raise protocol.api_error(response.status_code, content)
        return response

    def _stream_error(self, exc: BaseException, served_by: Server | None = None) -> RamalamaError:
        return self._failure(
            exc,
            timed_out=isinstance(exc, requests.Timeout),
            served_by=served_by,
            connecting=isinstance(exc, requests.ConnectTimeout),
        )

    def _failure(
        self,
        exc: BaseException,
        *,
        timed_out: bool,
        served_by: Server | None = None,
        connecting: bool = False,
    ) -> RamalamaError:
        """A failed request as the user should see it, the server's death first."""
        if not timed_out and self._server is not None:
            _settle(self._server)
        return self._transport_error(
            exc, timed_out=timed_out, served_by=served_by, connecting=connecting
        )

    def _drive(self, steps: Generator[Step, object, T], *, abortable: bool = False) -> T:
        """Run a state machine of steps with blocking I/O; ``abortable``: a
        stop() from another thread ends it."""
        cleanups: list[Callable[[], None]] = []
        result: object = None
        try:
            while True:
                if abortable and self._abort.is_set():
                    raise ServerNotRunningError(
                        f"stop() was called while {self.options.model!r} was starting"
                    )
                try:
                    step = steps.send(result)
                except StopIteration as done:
                    return cast(T, done.value)
                result = None
                if isinstance(step, Spawn):
                    cleanups.append(step.server.stop)
                    result = step.server.start(self._env()).result()
                elif isinstance(step, Launch):
                    future = spawn(step.argv, env=step.env, stdout=step.stdout, stderr=step.stderr)
                    cleanups.append(functools.partial(stop_spawned, future))
                    result = future.result()
                elif isinstance(step, Probe):
                    result = self._probe(step.url)
                elif isinstance(step, Owns):
                    result = step.server.owns_port()
                elif isinstance(step, Sleep):
                    self._abort.wait(step.seconds)  # stop() wakes it
                elif isinstance(step, Stop):
                    step.server.stop()
        except BaseException:

            def clean_up() -> None:
                for cleanup in cleanups:  # servers and commands stop idempotently
                    cleanup()

            _uninterrupted(clean_up)  # a second Ctrl-C must not leave one running
            steps.close()
            raise

    def _probe(self, url: str) -> bool:
        assert self._session is not None
        try:
            # Closed after each answer: a kept-alive probe connection would
            # otherwise stay open, unused, for the life of the model.
            with self._session.get(url, timeout=(1.0, 2.0), headers=_CLOSE) as response:
                return response.status_code == 200
        except requests.RequestException:
            return False


_CLOSE = {"Connection": "close"}


def _uninterrupted(stop: Callable[[], None]) -> None:
    """Run ``stop`` to its end even if KeyboardInterrupt comes meanwhile.

    Python delivers signals to the main thread only, so the work runs in a
    thread of its own: a Ctrl-C while processes are being killed then
    cannot leave them running, forgotten by the model. The interrupt is
    raised once the work is done.
    """
    worker = threading.Thread(target=stop, name="ramalama-sdk-stop")
    worker.start()
    interrupted: BaseException | None = None
    while worker.is_alive():
        try:
            worker.join()
        except BaseException as exc:  # KeyboardInterrupt, a signal handler's
            interrupted = exc
    if interrupted is not None:
        raise interrupted


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


def _settle(server: Server, wait: float = 0.5) -> None:
    """Give a dying server a moment to exit, so the error says it stopped."""
    if server.popen is not None:
        try:
            server.popen.wait(timeout=wait)
        except Exception:  # still running: the error is a connection error
            pass


class _RequestsBody:
    """A streamed requests.Response as a StreamBody."""

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def chunks(self) -> Generator[bytes, None, None]:
        try:
            # Read to the end even after [DONE]: a body read to its end
            # returns the connection to the pool for the next request.
            yield from self._response.iter_content(chunk_size=None)
        except requests.RequestException as exc:
            # requests reports a read timeout inside a body as a ConnectionError.
            cause = exc.args[0] if exc.args else None
            raise TransportFailure(
                exc,
                timed_out=isinstance(exc, requests.Timeout) or isinstance(cause, ReadTimeoutError),
                connecting=isinstance(exc, requests.ConnectTimeout),
            ) from exc

    def close(self) -> None:
        self._response.close()
