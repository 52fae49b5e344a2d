"""AsyncRamalamaModel: a local model, served for as long as you need it.

The model's shell, written once: ``_async/model.py`` is the source and
``_sync/model.py`` is generated from it by ``scripts/make_sync.py``. The two
differ only in the primitives of ``io`` (the blocking http.client pool or
aiohttp, sleeping, locks, how tools run and how a stop survives Ctrl-C).
"""

from __future__ import annotations

import functools
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ... import deploy
from ...agents import agent, mcp_tools, parsing
from ...http import protocol, replies
from ...store.progress import ProgressCallback
from ...types import ChatMessage, Completion
from ..core import AUTO, Auto
from ..stream_core import DoneHook
from . import io
from .acting import drive_act, drive_parse
from .conversation import AsyncConversation
from .features import AsyncFeatures
from .streams import AsyncChatStream
from .transport import Transport

if TYPE_CHECKING:
    import pydantic
    from typing_extensions import Unpack

    from ...agents.mcp_tools import ToolSource
    from ...chat_options import ActOptions, ChatOptions, ParseOptions
    from ...http.cancelling import CancelToken
    from ..fitting import FitPolicy

T = TypeVar("T")
M = TypeVar("M", bound="pydantic.BaseModel")


class AsyncRamalamaModel(AsyncFeatures):
    """A local model, served by ``ramalama serve`` for as long as you need it.

        async with AsyncRamalamaModel(model="tinyllama") as model:
            reply = await model.chat("How tall is Michael Jordan?")
            print(reply["content"])

    All options are keyword-only; see the README for each one. Concurrent
    calls share one pool of connections.
    """

    def _init_io(self) -> None:
        self._lock = io.Lock()
        self._transport: Transport | None = None
        # Set by stop() while serve() is loading: that serve() gives up.
        self._abort = io.Abort()
        self._starting = False

    async def __aenter__(self) -> AsyncRamalamaModel:
        await self.download()
        await self.serve()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def download(
        self, *, force: bool = False, progress: ProgressCallback | Auto | None = AUTO
    ) -> None:
        """Pull the model into ramalama's store (quick when it is already there).

        ``force=True`` removes the stored copy first, so a ``file://`` model
        whose file has changed is copied again. ``progress`` is called with
        (bytes done, total bytes or None) while a download runs; by default a
        tqdm bar is drawn when stderr is a terminal or a notebook, and
        nothing otherwise; None is silence.
        """
        self._check_not_attached("download")
        # Deciding the mode may ask an engine ("podman info"): blocking work.
        await io.to_thread(self._resolve)
        await io.drive_steps(self._download_steps(force, progress), self._env)

    async def serve(self) -> None:
        """Start the server and return once it answers; no-op if it already runs.

        Raises ServerStartError, ServerTimeoutError or a DownloadError; in
        every case nothing is left running. A ``stop()`` meanwhile makes it
        give up at once (ServerNotRunningError).
        """
        async with self._lock:
            if self.is_running:
                return
            await self._stop_locked()
            mode, ramalama = await io.to_thread(self._resolve)
            transport = Transport(self.options.request_timeout, trust_env=False)
            await transport.open()
            self._transport = transport
            self._abort.clear()
            self._starting = True
            try:
                steps = self._start_steps(mode, ramalama)
                server = await io.drive_steps(
                    steps, self._env, transport, abort=self._abort, what=self.options.model
                )
            except BaseException:
                await io.uninterrupted(self._stop_locked)
                raise
            finally:
                self._starting = False
                self._abort.clear()
            transport.bind(server.base_url, pooled=True)
            self._adopt(server, functools.partial(io.stop_at_exit, server, transport))

    @classmethod
    async def connect(
        cls,
        base_url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        request_timeout: float = 600,
    ) -> AsyncRamalamaModel:
        """Chat with a server that is already running (another process, a
        container, a Kubernetes service): no ramalama process is involved, and
        ``stop()`` leaves that server alone.

            model = await AsyncRamalamaModel.connect("http://127.0.0.1:8080/v1")

        ``model`` is the name sent in requests; by default, the first that
        the server lists at ``/models``.
        """
        attached = cls(model=model or "default", request_timeout=request_timeout, api_key=False)
        attached._attach(base_url, api_key)
        # A host name is looked up to decide: off the loop.
        loopback = await io.to_thread(attached._attached_to_loopback)
        transport = Transport(request_timeout, trust_env=not loopback)
        await transport.open()
        transport.bind(attached._endpoint(), pooled=False)
        attached._transport = transport
        attached._finalizer = weakref.finalize(attached, transport.forget)
        if model is None:
            try:
                name = protocol.first_model(await attached._call("GET", "/models", None))
            except BaseException:
                await attached.stop()
                raise
            attached.options = replace(attached.options, model=name)
        return attached

    async def generate(self, kind: str, directory: str | os.PathLike[str]) -> list[Path]:
        """Write the files that serve this model elsewhere; return their paths.

            model = AsyncRamalamaModel(model="oci://quay.io/me/granite:2b", port=8080)
            await model.generate("kube", "deploy")   # [PosixPath('/abs/deploy/granite-2b.yaml')]

        ``kind``: ``"kube"`` (a Kubernetes Deployment), ``"quadlet"`` (a
        podman unit), ``"kube/quadlet"`` (both) or ``"compose"``
        (docker-compose.yaml). Runs ``ramalama serve --generate`` with this
        model's options; nothing is served and no container engine needs to
        run. Errors and warnings: see ``ramalama_sdk.deploy.generate``.
        """
        self._check_not_attached("generate deployment files")
        return await io.to_thread(deploy.generate, self.options, kind, directory)

    async def stop(self) -> None:
        """Stop the server and wait until all its processes are gone; idempotent.

        Called while ``serve()`` is still loading (from another thread, or
        another coroutine), it makes that ``serve()`` give up at once.
        """
        if self._starting:
            self._abort.set()
        async with self._lock:
            await io.uninterrupted(self._stop_locked)

    async def _stop_locked(self) -> None:
        server = self._release()
        transport, self._transport = self._transport, None
        await io.shut_down(server, transport)

    # -- chat --------------------------------------------------------------

    async def chat(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        cancel: CancelToken | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatMessage:
        """Send ``message`` after ``history`` (not modified) and return the reply.

        The reply is ``{"role": "assistant", "content": "..."}``. Options:
        ``temperature``, ``max_tokens``, ``top_p``, ``seed``, ``stop``,
        ``response_format`` (a JSON schema dict or a pydantic model class),
        ``tools``, ``images`` and the rest of ``ChatOptions``. ``cancel``: a
        CancelToken that stops this call alone (RequestCancelledError).
        """
        return await self._chat(protocol.chat_messages(message, history), options, cancel=cancel)

    async def _chat(
        self,
        messages: list[ChatMessage],
        options: Mapping[str, Any],
        target: str | None = None,
        cancel: CancelToken | None = None,
    ) -> ChatMessage:
        """chat() of checked messages; ``target``: the model a router serves."""
        reply = await self._exchange(messages, options, target, cancel)
        if not isinstance(reply, Completion):
            return protocol.parse_chat_reply(reply)
        if reply.cut_off_while_thinking:
            replies.warn_cut_off()
        return reply.message

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        cancel: CancelToken | None = None,
        **options: Unpack[ChatOptions],
    ) -> Completion:
        """Send a whole conversation; return message, finish reason, usage, timings,
        tool calls, reasoning and logprobs. ``cancel``: as for ``chat()``."""
        return await self._complete(messages, options, cancel=cancel)

    async def _complete(
        self,
        messages: list[ChatMessage],
        options: Mapping[str, Any],
        target: str | None = None,
        cancel: CancelToken | None = None,
    ) -> Completion:
        reply = await self._exchange(messages, options, target, cancel)
        return reply if isinstance(reply, Completion) else protocol.parse_completion(reply)

    async def _exchange(
        self,
        messages: list[ChatMessage],
        options: Mapping[str, Any],
        target: str | None,
        cancel: CancelToken | None,
    ) -> Completion | bytes:
        """One chat request, as one call that cancel() and ``cancel`` reach: a
        reply received as a stream, put together, or the body of a reply sent
        whole."""
        with self._in_flight.call(cancel):
            if self._reply_streamed(options):
                body = self._complete_body(messages, options, stream=True, target=target)
                return await self._receive(body)
            body = self._complete_body(messages, options, target=target)
            await self._check_template(body)
            return await self._call("POST", protocol.CHAT_PATH, body)

    async def _receive(self, body: bytes) -> Completion:
        """A reply received as a stream, returned whole (see SHORT_REPLY_TOKENS)."""
        stream = self._stream(body)
        await stream._read_all()
        return stream.completion()

    async def act(
        self,
        prompt: str | list[ChatMessage],
        tools: Sequence[ToolSource],
        *,
        history: list[ChatMessage] | None = None,
        max_rounds: int = 10,
        on_message: agent.MessageCallback | None = None,
        raise_tool_errors: bool = False,
        cancel: CancelToken | None = None,
        **options: Unpack[ActOptions],
    ) -> agent.ActResult:
        """Let the model call ``tools`` (plain functions) until it answers.

            result = await model.act("Weather in Paris?", [get_weather, get_time])
            print(result.content, result.tool_runs)

        Each round sends the conversation, runs every tool call of the reply
        with its arguments converted to the annotated types, and sends the
        results back; it ends when a reply calls no tool. See the README.
        ``cancel``: a CancelToken; once cancelled, no further round is sent.
        """
        return await self._act(
            prompt,
            tools,
            history,
            max_rounds,
            on_message,
            raise_tool_errors,
            options,
            cancel=cancel,
        )

    async def _act(
        self,
        prompt: str | list[ChatMessage],
        tools: Sequence[ToolSource],
        history: list[ChatMessage] | None,
        max_rounds: int,
        on_message: agent.MessageCallback | None,
        raise_tool_errors: bool,
        options: Mapping[str, Any],
        target: str | None = None,
        cancel: CancelToken | None = None,
    ) -> agent.ActResult:
        """act(); ``target``: the model a router serves. MCP servers among
        ``tools`` are open for the call only."""
        with self._in_flight.call(cancel):
            return await self._act_in_call(
                prompt, tools, history, max_rounds, on_message, raise_tool_errors, options, target
            )

    async def _act_in_call(
        self,
        prompt: str | list[ChatMessage],
        tools: Sequence[ToolSource],
        history: list[ChatMessage] | None,
        max_rounds: int,
        on_message: agent.MessageCallback | None,
        raise_tool_errors: bool,
        options: Mapping[str, Any],
        target: str | None,
    ) -> agent.ActResult:
        async with mcp_tools.opened_async(tools) as toolset:
            steps = agent.start(
                prompt, history, toolset, max_rounds, on_message, raise_tool_errors, options
            )
            return await drive_act(steps, functools.partial(self._complete, target=target))

    async def parse(
        self,
        prompt: str | list[ChatMessage],
        schema: type[M] | None = None,
        *,
        history: list[ChatMessage] | None = None,
        retries: int = 0,
        cancel: CancelToken | None = None,
        **options: Unpack[ParseOptions],
    ) -> M:
        """The reply as a validated instance of the pydantic class ``schema``.

            city = await model.parse("Name a large city.", City, retries=2)

        ``retries=N`` asks again up to N times, showing the model its reply's
        validation error; ParseError (with every reply) if none validates.
        (``model=City``, the former name of ``schema``, still works but warns.)
        ``cancel``: a CancelToken that stops this call, its retries included.
        """
        schema, rest = parsing.schema_argument(schema, options)
        return await self._parse(prompt, schema, history, retries, rest, cancel=cancel)

    async def _parse(
        self,
        prompt: str | list[ChatMessage],
        schema: type[M],
        history: list[ChatMessage] | None,
        retries: int,
        options: Mapping[str, Any],
        target: str | None = None,
        cancel: CancelToken | None = None,
    ) -> M:
        """parse(); ``target``: the model a router serves."""
        messages, rest = parsing.prepare_parse(prompt, history, schema, retries, options)
        steps = parsing.parse_steps(messages, schema, retries, rest)
        with self._in_flight.call(cancel):
            return await drive_parse(steps, functools.partial(self._complete, target=target))

    def stream(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        cancel: CancelToken | None = None,
        **options: Unpack[ChatOptions],
    ) -> AsyncChatStream:
        """Yield the reply's text as it is generated.

        stream = model.stream("Tell me a story")
        async for delta in stream:
            print(delta, end="", flush=True)
        print(stream.finish_reason, stream.usage)

        ``cancel``: a CancelToken; once cancelled, the loop raises
        RequestCancelledError (``close()`` ends it quietly instead).
        """
        messages = protocol.chat_messages(message, history)
        return self._stream(self._complete_body(messages, options, stream=True), cancel=cancel)

    def conversation(
        self, system: str | None = None, *, fit: FitPolicy | None = None
    ) -> AsyncConversation:
        """A conversation that keeps its own history: ``say()`` and ``stream()``.

        ``fit="drop"`` leaves out the oldest exchanges (never the system
        prompt) when the next message would not fit the context with its
        reply; ``fit="summarize"`` puts a summary by the model in their place.
        They are listed in ``conversation.dropped``. None: the server's
        ContextLengthError.
        """
        return AsyncConversation(self, system, fit=fit)

    def _stream(
        self, body: bytes, on_done: DoneHook | None = None, cancel: CancelToken | None = None
    ) -> AsyncChatStream:
        shared, token = self._in_flight.for_stream(cancel)
        opened = self._stream_io(protocol.CHAT_PATH, body, chat=True)
        return AsyncChatStream(*opened, on_done, self._prompt_reporter(), shared, token)
