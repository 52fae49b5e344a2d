"""AsyncRamalamaModel: the same model, driven with awaits.

Nothing here blocks the event loop: children are forked by the spawner
thread, waits are polls with ``asyncio.sleep``, and stopping (which waits for
processes to exit) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from types import TracebackType
from typing import TYPE_CHECKING

from . import protocol
from .base import BaseModel
from .process import spawn, stop_group
from .server import Probe, Server, Sleep, Spawn, Step, Stop, start_steps
from .types import ChatMessage

if TYPE_CHECKING:
    import aiohttp

_JSON = {"Content-Type": "application/json"}
CONNECT_TIMEOUT = 5.0
_EXIT_POLL = 0.02


class AsyncRamalamaModel(BaseModel):
    """A local model served by ``ramalama serve``, for asyncio programs.

        async with AsyncRamalamaModel(model="tinyllama") as model:
            reply = await model.chat("Hello")

    Concurrent ``chat()`` calls from many tasks share one connection pool.
    """

    def _init_io(self) -> None:
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

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

    async def download(self) -> None:
        """Pull the model into ramalama's store (quick when it is already there)."""
        argv = self._pull_argv()
        log = self._new_pull_log()
        try:
            popen = await asyncio.wrap_future(
                spawn(argv, env=self._env(), stdout=log.handle, stderr=log.handle)
            )
            try:
                while (code := popen.poll()) is None:
                    await asyncio.sleep(_EXIT_POLL)
            except BaseException:  # cancelled: leave no pull running
                await asyncio.to_thread(stop_group, popen)
                raise
            if code != 0:
                raise self._pull_failed(argv, code, "\n".join(log.tail(50)))
        finally:
            log.close(keep=0)

    async def serve(self) -> None:
        """Start the server and return once it answers; no-op if it already runs."""
        async with self._lock:
            if self.is_running:
                return
            await self._stop_locked()
            mode, ramalama = self._resolve()
            self._session = _new_session(self.options.request_timeout)
            try:
                server = await self._drive(start_steps(self.options, mode, ramalama))
            except BaseException:
                await self._stop_locked()
                raise
            self._adopt(server, server.stop)

    async def stop(self) -> None:
        """Stop the server and wait until all its processes are gone; idempotent."""
        async with self._lock:
            await self._stop_locked()

    async def _stop_locked(self) -> None:
        server = self._release()
        try:
            if server is not None:
                await asyncio.to_thread(server.stop)
        finally:
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()

    async def chat(self, message: str, history: list[ChatMessage] | None = None) -> ChatMessage:
        """Send ``message`` after ``history`` (not modified) and return the reply."""
        messages = protocol.chat_messages(message, history)
        body = protocol.chat_body(self.options.model, messages)
        data = await self._post(protocol.CHAT_PATH, body)
        return protocol.parse_chat_reply(data)

    # -- I/O -------------------------------------------------------------

    async def _post(self, path: str, body: bytes) -> bytes:
        import aiohttp

        server = self._require_server()
        session = self._session
        if session is None:
            raise self._not_running()
        try:
            async with session.post(server.base_url + path, data=body, headers=_JSON) as response:
                data = await response.read()
                status = response.status
        except asyncio.TimeoutError as exc:
            raise self._transport_error(exc, timed_out=True) from None
        except aiohttp.ClientError as exc:
            await _settle(server)
            raise self._transport_error(exc, timed_out=False) from None
        if status != 200:
            raise protocol.api_error(status, data)
        return data

    async def _drive(self, steps: Generator[Step, object, Server]) -> Server:
        """Run the start-up state machine without blocking the loop."""
        spawned: Server | None = None
        result: object = None
        try:
            while True:
                try:
                    step = steps.send(result)
                except StopIteration as done:
                    server: Server = done.value
                    return server
                result = None
                if isinstance(step, Spawn):
                    spawned = step.server
                    result = await asyncio.wrap_future(step.server.start(self._env()))  # type: ignore[arg-type]
                elif isinstance(step, Probe):
                    result = await self._probe(step.url)
                elif isinstance(step, Sleep):
                    await asyncio.sleep(step.seconds)
                elif isinstance(step, Stop):
                    await asyncio.to_thread(step.server.stop)
        except BaseException:
            if spawned is not None:
                await asyncio.to_thread(spawned.stop)
            raise

    async def _probe(self, url: str) -> bool:
        import aiohttp

        assert self._session is not None
        try:
            timeout = aiohttp.ClientTimeout(total=2.0, sock_connect=1.0)
            async with self._session.get(url, timeout=timeout) as response:
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False


def _new_session(request_timeout: float) -> aiohttp.ClientSession:
    import aiohttp

    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=request_timeout, sock_connect=CONNECT_TIMEOUT),
        # Concurrency is bounded by the server's slots, not by the client.
        connector=aiohttp.TCPConnector(limit=0),
    )


async def _settle(server: Server, wait: float = 0.5) -> None:
    """Give a dying server a moment to exit, so the error says it stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while server.exit_code is None and loop.time() < deadline:
        await asyncio.sleep(_EXIT_POLL)
