"""AsyncRamalamaModel: the same model, driven with awaits.

Nothing here blocks the event loop: children are forked by the spawner
thread, waits are polls with ``asyncio.sleep``, and stopping (which waits for
processes to exit) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import os
import sys
import weakref
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import deploy
from .agents import agent, parsing
from .async_features import AsyncFeatures
from .base import AUTO, CONNECT_TIMEOUT, Auto
from .conversation import AsyncConversation
from .errors import RamalamaError
from .http import protocol, replies
from .process.server import Server
from .process.steps import Launch, Owns, Probe, Sleep, Spawn, Step, Stop
from .process.supervisor import spawn, stop_spawned
from .store.progress import ProgressCallback
from .streams import AsyncChatStream, DoneHook
from .text_streams import AsyncTextStream
from .types import ChatMessage, Completion

if TYPE_CHECKING:
    import aiohttp
    import pydantic
    from typing_extensions import Unpack

    from .agents.tools import ToolLike
    from .chat_options import ActOptions, ChatOptions, GenerationOptions

T = TypeVar("T")
M = TypeVar("M", bound="pydantic.BaseModel")
_EXIT_POLL = 0.02
# Requests beyond this many in flight wait on the client for a connection:
# llama-server runs one thread per connection, and a thousand concurrent
# connections make it slower for all of them.
MAX_CONNECTIONS = 64


class AsyncRamalamaModel(AsyncFeatures):
    """A local model served by ``ramalama serve``, for asyncio programs.

        async with AsyncRamalamaModel(model="tinyllama") as model:
            reply = await model.chat("Hello")

    Concurrent ``chat()`` calls from many tasks share one connection pool.
    """

    def _init_io(self) -> None:
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

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
        """Pull the model into ramalama's store; see ``RamalamaModel.download``."""
        self._check_not_attached("download")
        # Deciding the mode may ask an engine ("podman info"): not on the loop.
        await asyncio.to_thread(self._resolve)
        await self._drive(self._download_steps(force, progress))

    async def serve(self) -> None:
        """Start the server and return once it answers; no-op if it already runs."""
        async with self._lock:
            if self.is_running:
                return
            await self._stop_locked()
            mode, ramalama = await asyncio.to_thread(self._resolve)
            await _import_aiohttp()
            self._loop = asyncio.get_running_loop()
            self._session = _new_session(self.options.request_timeout, trust_env=False)
            try:
                server = await self._drive(self._start_steps(mode, ramalama))
            except BaseException:
                await self._stop_locked()
                raise
            self._adopt(server, functools.partial(_stop_at_exit, server, self._session))

    @classmethod
    async def connect(
        cls,
        base_url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        request_timeout: float = 600,
    ) -> AsyncRamalamaModel:
        """Chat with a server that is already running; ``stop()`` leaves it alone.

        model = await AsyncRamalamaModel.connect("http://127.0.0.1:8080/v1")
        """
        attached = cls(model=model or "default", request_timeout=request_timeout, api_key=False)
        attached._attach(base_url, api_key)
        await _import_aiohttp()
        attached._loop = asyncio.get_running_loop()
        attached._session = _new_session(
            request_timeout, trust_env=not attached._attached_to_loopback()
        )
        attached._finalizer = weakref.finalize(attached, _forget_session, attached._session)
        if model is None:
            try:
                data = await attached._send("GET", "/models", None)
                name = protocol.first_model(data)
            except BaseException:
                await attached.stop()
                raise
            attached.options = replace(attached.options, model=name)
        return attached

    async def generate(self, kind: str, directory: str | os.PathLike[str]) -> list[Path]:
        """Write the files that serve this model elsewhere; return their paths.

            model = AsyncRamalamaModel(model="oci://quay.io/me/granite:2b", port=8080)
            await model.generate("kube", "deploy")

        The same as ``RamalamaModel.generate()``; ramalama runs in a thread,
        so the event loop is never blocked.
        """
        self._check_not_attached("generate deployment files")
        return await asyncio.to_thread(deploy.generate, self.options, kind, directory)

    async def stop(self) -> None:
        """Stop the server and wait until all its processes are gone; idempotent."""
        async with self._lock:
            await self._stop_locked()

    async def _stop_locked(self) -> None:
        server = self._release()
        session, self._session = self._session, None
        loop = asyncio.get_running_loop()
        # The stop starts in a thread before the first await: a cancelled
        # stop() (anyio cancels every await in a cancelled scope, e.g. a
        # timeout around 'async with model:') still stops every process.
        stopping = loop.run_in_executor(None, server.stop) if server is not None else None
        try:
            if session is not None and self._loop is loop:
                await asyncio.shield(session.close())
            elif session is not None:  # its loop is another, maybe closed
                _forget_session(session)
        finally:
            if stopping is not None:
                await asyncio.shield(stopping)

    async def chat(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatMessage:
        """Send ``message`` after ``history`` (not modified) and return the reply."""
        if self._reply_streamed(options):
            body = self._chat_body(message, history, options, stream=True)
            completion = await self._receive(body)
            if completion.cut_off_while_thinking:
                replies.warn_cut_off(stacklevel=3)
            return completion.message
        body = self._chat_body(message, history, options)
        await self._check_template()
        return protocol.parse_chat_reply(await self._send("POST", protocol.CHAT_PATH, body))

    async def complete(
        self, messages: list[ChatMessage], **options: Unpack[ChatOptions]
    ) -> Completion:
        """Send a whole conversation; return message, finish reason, usage, timings,
        tool calls, reasoning and logprobs."""
        return await self._complete(messages, options)

    async def _complete(
        self, messages: list[ChatMessage], options: Mapping[str, Any]
    ) -> Completion:
        if self._reply_streamed(options):
            return await self._receive(self._complete_body(messages, options, stream=True))
        body = self._complete_body(messages, options)
        await self._check_template()
        return protocol.parse_completion(await self._send("POST", protocol.CHAT_PATH, body))

    async def _receive(self, body: bytes) -> Completion:
        """A reply received as a stream, returned whole (see SHORT_REPLY_TOKENS)."""
        stream = self._stream(body)
        await stream._read_all()
        return stream.completion()

    async def act(
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
        """``RamalamaModel.act()`` with awaits: coroutine tools are awaited, plain
        functions run in worker threads, and the calls of one reply run
        concurrently."""
        steps = agent.start(
            prompt, history, tools, max_rounds, on_message, raise_tool_errors, options
        )
        return await agent.drive_async(steps, self._complete)

    async def parse(
        self,
        prompt: str | list[ChatMessage],
        model: type[M],
        *,
        history: list[ChatMessage] | None = None,
        retries: int = 0,
        **options: Unpack[GenerationOptions],
    ) -> M:
        """The reply as a validated pydantic instance; see ``RamalamaModel.parse()``."""
        messages = parsing.prepare_parse(prompt, history, model, retries, options)
        steps = parsing.parse_steps(messages, model, retries, options)
        return await parsing.drive_parse_async(steps, self._complete)

    def stream(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        **options: Unpack[ChatOptions],
    ) -> AsyncChatStream:
        """Yield the reply's text as it is generated: ``async for delta in ...``."""
        return self._stream(self._chat_body(message, history, options, stream=True))

    def conversation(self, system: str | None = None) -> AsyncConversation:
        """A conversation that keeps its own history: ``say()`` and ``stream()``."""
        return AsyncConversation(self, system)

    def _stream(self, body: bytes, on_done: DoneHook | None = None) -> AsyncChatStream:
        return AsyncChatStream(
            *self._stream_io(protocol.CHAT_PATH, body, chat=True), on_done, self._prompt_reporter()
        )

    def _stream_io(
        self, path: str, body: bytes, *, chat: bool
    ) -> tuple[
        Callable[[], Awaitable[aiohttp.ClientResponse]],
        Callable[[BaseException], Awaitable[RamalamaError]],
    ]:
        """How a stream opens, and how its failures read: as the failures of
        the server that served it (stopped, or died), like any request's."""
        served_by: Server | None = None

        async def open_response() -> aiohttp.ClientResponse:
            nonlocal served_by
            if chat:
                await self._check_template()
            served_by = self._server
            return await self._open("POST", path, body, close=True)

        async def map_error(exc: BaseException) -> RamalamaError:
            return await self._stream_error(exc, served_by=served_by)

        return open_response, map_error

    # -- I/O -------------------------------------------------------------

    async def _call(
        self, method: str, path: str, body: bytes | None, *, root: bool = False
    ) -> bytes:
        return await self._send(method, path, body, root=root)

    def _open_text_stream(self, body: bytes) -> AsyncTextStream:
        from .endpoints.completions import COMPLETIONS_PATH

        return AsyncTextStream(*self._stream_io(COMPLETIONS_PATH, body, chat=False))

    async def _send(
        self, method: str, path: str, body: bytes | None, *, root: bool = False
    ) -> bytes:
        import aiohttp

        server = self._server
        response = await self._open(method, path, body, root=root)
        try:
            return await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise await self._stream_error(exc, served_by=server) from None
        finally:
            response.release()

    async def _open(
        self, method: str, path: str, body: bytes | None, *, close: bool = False, root: bool = False
    ) -> aiohttp.ClientResponse:
        """Send a request; return the response once its status is 200."""
        import aiohttp

        url = (self._root_endpoint() if root else self._endpoint()) + path
        session = self._session
        server = self._server
        if session is None:
            raise self._not_running()
        self._check_loop()
        headers = self._headers(own_connection=close)
        for attempt in (1, 2):
            try:
                response = await session.request(method, url, data=body, headers=headers)
                break
            except aiohttp.ClientConnectionError as exc:
                if attempt == 2 or isinstance(exc, asyncio.TimeoutError) or not self.is_running:
                    raise await self._stream_error(exc, served_by=server) from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise await self._stream_error(exc, served_by=server) from None
        if response.status != 200:
            try:
                content = await response.read()
            except (aiohttp.ClientError, asyncio.TimeoutError):
                content = b""
            finally:
                response.release()
            raise protocol.api_error(response.status, content)
        return response

    def _check_loop(self) -> None:
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            raise RamalamaError(
                f"this AsyncRamalamaModel of {self.options.model!r} was served or "
                "connected in another event loop, and its connections belong to "
                "that loop: use it there, or make a new model object in this loop"
            )

    async def _stream_error(
        self, exc: BaseException, served_by: Server | None = None
    ) -> RamalamaError:
        import aiohttp

        if isinstance(exc, asyncio.TimeoutError):
            connecting = isinstance(exc, aiohttp.ConnectionTimeoutError)
            return self._transport_error(
                exc, timed_out=True, served_by=served_by, connecting=connecting
            )
        if self._server is not None:
            await _settle(self._server)
        return self._transport_error(exc, timed_out=False, served_by=served_by)

    async def _drive(self, steps: Generator[Step, object, T]) -> T:
        """Run a state machine of steps without blocking the loop."""
        cleanups: list[Callable[[], None]] = []
        result: object = None
        try:
            while True:
                try:
                    step = steps.send(result)
                except StopIteration as done:
                    return cast(T, done.value)
                result = None
                if isinstance(step, Spawn):
                    cleanups.append(step.server.stop)
                    result = await asyncio.wrap_future(step.server.start(self._env()))  # type: ignore[arg-type]
                elif isinstance(step, Launch):
                    future = spawn(step.argv, env=step.env, stdout=step.stdout, stderr=step.stderr)
                    cleanups.append(functools.partial(stop_spawned, future))
                    result = await asyncio.wrap_future(future)  # type: ignore[arg-type]
                elif isinstance(step, Probe):
                    result = await self._probe(step.url)
                elif isinstance(step, Owns):
                    result = await asyncio.to_thread(step.server.owns_port)
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Stop):
                    await asyncio.to_thread(step.server.stop)
        except BaseException:
            # Stopping waits for processes to exit: in threads, off the loop,
            # all started before the first await so that a cancellation of
            # the wait leaves none of them undone.
            loop = asyncio.get_running_loop()
            pending = [loop.run_in_executor(None, cleanup) for cleanup in cleanups]
            steps.close()
            if pending:
                await asyncio.shield(asyncio.gather(*pending))
            raise

    async def _probe(self, url: str) -> bool:
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


def _new_session(request_timeout: float, *, trust_env: bool) -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(
        # request_timeout bounds each wait for data (as the blocking model's
        # socket timeout does), not the whole reply: a stream that keeps
        # producing tokens is never cut off.
        timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT, sock_read=request_timeout
        ),
        # Idle connections are dropped before llama-server drops them (5 s).
        connector=aiohttp.TCPConnector(limit=MAX_CONNECTIONS, keepalive_timeout=4),
        # See the sync model: no proxy for loopback, the environment's elsewhere.
        trust_env=trust_env,
    )


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


def _stop_at_exit(server: Server, session: aiohttp.ClientSession | None) -> None:
    """What a model that was never stopped does at collection or exit."""
    server.stop()
    if session is not None:
        _forget_session(session)


async def _import_aiohttp() -> None:
    """Import aiohttp (0.2-0.4 s the first time) in a thread, off the loop."""
    if "aiohttp" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "aiohttp")


async def _settle(server: Server, wait: float = 0.5) -> None:
    """Give a dying server a moment to exit, so the error says it stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while server.exit_code is None and loop.time() < deadline:
        await asyncio.sleep(_EXIT_POLL)
