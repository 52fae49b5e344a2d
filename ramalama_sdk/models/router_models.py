"""RamalamaRouter and AsyncRamalamaRouter: several models behind one server.

    with RamalamaRouter(models=["tinyllama", "granite"], models_max=1) as router:
        router.chat("Hello", model="tinyllama")
        router.load("granite")          # tinyllama is unloaded to make room
        print(router.loaded())          # ['granite']

Everything else (serve, stop, stream, the lifecycle guarantees) is the one
of RamalamaModel and AsyncRamalamaModel; see router.py for how it works.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import requests

from ..errors import RamalamaError, ServerStartError, ServerTimeoutError
from ..http import protocol
from ..types import ChatMessage
from ._async.model import AsyncRamalamaModel
from ._sync.model import RamalamaModel
from .core import CONNECT_TIMEOUT
from .router_core import RouterCore, model_states
from .streams import AsyncChatStream, ChatStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..chat_options import ChatOptions

_POLL = 0.05


def _model_options(
    models: Sequence[str],
    *,
    base_image: str | None,
    temp: float,
    max_tokens: int,
    ctx_size: int,
    timeout: float,
    port: int | None,
    host: str,
    request_timeout: float,
    api_key: str | bool | None,
    runtime_args: Sequence[str],
) -> dict[str, Any]:
    """The options of a router's model core: a model's, always in a container."""
    return {
        "model": models[0],
        "base_image": base_image,
        "temp": temp,
        "max_tokens": max_tokens,
        "ctx_size": ctx_size,
        "timeout": timeout,
        "container": True,
        "port": port,
        "host": host,
        "request_timeout": request_timeout,
        "api_key": api_key,
        "runtime_args": runtime_args,
    }


def _wait_failed(name: str, state: str, router: RouterCore) -> RamalamaError:
    return ServerStartError(
        f"the router could not load {name!r} (state {state!r})",
        model=name,
        log_tail=router.logs(20),
    )


class RamalamaRouter(RouterCore, RamalamaModel):
    """Several models served by one llama-server in router mode (container mode).

    ``models_max`` is how many stay loaded at once; a request for another
    model loads it, unloading the least recently used. ``chat()``,
    ``stream()`` and ``complete()`` take ``model=``, one of ``models``.
    """

    def __init__(
        self,
        *,
        models: Sequence[str],
        models_max: int = 4,
        base_image: str | None = None,
        temp: float = 0.8,
        max_tokens: int = 0,
        ctx_size: int = 0,
        timeout: float = 60,
        container: bool | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        request_timeout: float = 600,
        api_key: str | bool | None = None,
        runtime_args: Sequence[str] = (),
    ) -> None:
        self._router_init(models, models_max, container)
        super().__init__(
            **_model_options(
                self.models,
                base_image=base_image,
                temp=temp,
                max_tokens=max_tokens,
                ctx_size=ctx_size,
                timeout=timeout,
                port=port,
                host=host,
                request_timeout=request_timeout,
                api_key=api_key,
                runtime_args=runtime_args,
            )
        )

    def __enter__(self) -> RamalamaRouter:
        super().__enter__()
        return self

    def __repr__(self) -> str:
        state = f"serving at {self.base_url}" if self.is_running else "stopped"
        return f"RamalamaRouter(models={list(self.models)!r}, {state})"

    def chat(  # type: ignore[override]
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        model: str,
        **options: Unpack[ChatOptions],
    ) -> ChatMessage:
        """Send ``message`` to ``model`` (loaded first if it is not)."""
        return super().chat(message, history, model=model, **options)  # type: ignore[call-arg]

    def stream(  # type: ignore[override]
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        model: str,
        **options: Unpack[ChatOptions],
    ) -> ChatStream:
        """Yield ``model``'s reply as it is generated."""
        return super().stream(message, history, model=model, **options)  # type: ignore[call-arg]

    def load(self, model: str) -> None:
        """Load ``model`` now and return once it answers."""
        target = self._router_id(model)
        if self._states().get(target) == "loaded":
            return
        self._router_call("POST", "/models/load", {"model": target})
        self._wait_for(model, target, "loaded")

    def unload(self, model: str) -> None:
        """Unload ``model`` (it loads again when a request names it)."""
        target = self._router_id(model)
        if self._states().get(target) in ("unloaded", "failed", None):
            return
        self._router_call("POST", "/models/unload", {"model": target})
        self._wait_for(model, target, "unloaded")

    def loaded(self) -> list[str]:
        """The models loaded now, as named in ``models``."""
        states = self._states()
        return [name for name in self.models if states.get(self._ids.get(name, "")) == "loaded"]

    def _states(self) -> dict[str, str]:
        return model_states(self._router_call("GET", "/models", None))

    def _wait_for(self, name: str, target: str, wanted: str) -> None:
        deadline = time.monotonic() + self.options.timeout
        while True:
            state = self._states().get(target, "unknown")
            if state == wanted:
                return
            if state == "failed" and wanted == "loaded":
                raise _wait_failed(name, state, self)
            if time.monotonic() >= deadline:
                raise ServerTimeoutError(name, self.options.timeout, self.logs(20))
            time.sleep(_POLL)

    def _router_call(self, method: str, path: str, payload: object) -> bytes:
        server, session = self._server, self._session
        if server is None or session is None or not server.alive:
            raise self._not_running()
        data = None if payload is None else json.dumps(payload).encode()
        try:
            response = session.request(
                method,
                server.root_url + path,
                data=data,
                headers=self._headers(),
                timeout=(CONNECT_TIMEOUT, self.options.request_timeout),
            )
        except requests.RequestException as exc:
            raise self._stream_error(exc) from None
        if response.status_code != 200:
            raise protocol.api_error(response.status_code, response.content)
        return response.content


class AsyncRamalamaRouter(RouterCore, AsyncRamalamaModel):
    """RamalamaRouter for asyncio programs: the same methods, awaited."""

    def __init__(
        self,
        *,
        models: Sequence[str],
        models_max: int = 4,
        base_image: str | None = None,
        temp: float = 0.8,
        max_tokens: int = 0,
        ctx_size: int = 0,
        timeout: float = 60,
        container: bool | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        request_timeout: float = 600,
        api_key: str | bool | None = None,
        runtime_args: Sequence[str] = (),
    ) -> None:
        self._router_init(models, models_max, container)
        super().__init__(
            **_model_options(
                self.models,
                base_image=base_image,
                temp=temp,
                max_tokens=max_tokens,
                ctx_size=ctx_size,
                timeout=timeout,
                port=port,
                host=host,
                request_timeout=request_timeout,
                api_key=api_key,
                runtime_args=runtime_args,
            )
        )

    async def __aenter__(self) -> AsyncRamalamaRouter:
        await super().__aenter__()
        return self

    def __repr__(self) -> str:
        state = f"serving at {self.base_url}" if self.is_running else "stopped"
        return f"AsyncRamalamaRouter(models={list(self.models)!r}, {state})"

    async def chat(  # type: ignore[override]
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        model: str,
        **options: Unpack[ChatOptions],
    ) -> ChatMessage:
        """Send ``message`` to ``model`` (loaded first if it is not)."""
        return await super().chat(message, history, model=model, **options)  # type: ignore[call-arg]

    def stream(  # type: ignore[override]
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        model: str,
        **options: Unpack[ChatOptions],
    ) -> AsyncChatStream:
        """Yield ``model``'s reply as it is generated: ``async for``."""
        return super().stream(message, history, model=model, **options)  # type: ignore[call-arg]

    async def load(self, model: str) -> None:
        """Load ``model`` now and return once it answers."""
        target = self._router_id(model)
        if (await self._states()).get(target) == "loaded":
            return
        await self._router_call("POST", "/models/load", {"model": target})
        await self._wait_for(model, target, "loaded")

    async def unload(self, model: str) -> None:
        """Unload ``model`` (it loads again when a request names it)."""
        target = self._router_id(model)
        if (await self._states()).get(target) in ("unloaded", "failed", None):
            return
        await self._router_call("POST", "/models/unload", {"model": target})
        await self._wait_for(model, target, "unloaded")

    async def loaded(self) -> list[str]:
        """The models loaded now, as named in ``models``."""
        states = await self._states()
        return [name for name in self.models if states.get(self._ids.get(name, "")) == "loaded"]

    async def _states(self) -> dict[str, str]:
        return model_states(await self._router_call("GET", "/models", None))

    async def _wait_for(self, name: str, target: str, wanted: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout
        while True:
            state = (await self._states()).get(target, "unknown")
            if state == wanted:
                return
            if state == "failed" and wanted == "loaded":
                raise _wait_failed(name, state, self)
            if loop.time() >= deadline:
                raise ServerTimeoutError(name, self.options.timeout, self.logs(20))
            await asyncio.sleep(_POLL)

    async def _router_call(self, method: str, path: str, payload: object) -> bytes:
        import aiohttp

        server, session = self._server, self._session
        if server is None or session is None or not server.alive:
            raise self._not_running()
        data = None if payload is None else json.dumps(payload).encode()
        try:
            async with session.request(
                method, server.root_url + path, data=data, headers=self._headers()
            ) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise await self._stream_error(exc) from None
        if status != 200:
            raise protocol.api_error(status, body)
        return body
