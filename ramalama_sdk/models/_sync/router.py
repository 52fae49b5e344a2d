# Generated from ramalama_sdk/models/_async/router.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""RamalamaRouter: several models behind one server.

    with RamalamaRouter(models=["tinyllama", "granite"], models_max=1) as router:
        router.chat("Hello", model="tinyllama")
        router.load("granite")          # tinyllama is unloaded to make room
        print(router.loaded())          # ['granite']

A router is not a model: it holds one (the server, its key, its lifecycle
guarantees) and offers what works behind llama-server's router, each call
naming one of its models with ``model=``. What the router cannot route (a
request with no model field: tokens, ``/props``; embeddings, which need a
server started for them) it does not offer. See ``router_core.py`` for how
it works.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from ...endpoints.completions import TextCompletion
from ...errors import ServerTimeoutError
from ...http import protocol
from ...store.progress import ProgressCallback
from ...types import ChatMessage, Completion
from ..core import AUTO, Auto
from ..router_core import RouterCore, model_options, model_states, wait_failed
from . import io
from .conversation import Conversation
from .model import RamalamaModel
from .streams import ChatStream
from .text_streams import TextStream

if TYPE_CHECKING:
    import pydantic
    from typing_extensions import Unpack

    from ...agents.agent import ActResult, MessageCallback
    from ...agents.mcp_tools import ToolSource
    from ...chat_options import ActOptions, ChatOptions, GenerationOptions, ParseOptions
    from ...http.cancelling import CancelToken

M = TypeVar("M", bound="pydantic.BaseModel")
_POLL = 0.05


class _RouterCore(RouterCore, RamalamaModel):
    """The router's server: a model whose requests name one of its models."""

    def __init__(
        self, models: Sequence[str], models_max: int, container: object, **options: Any
    ) -> None:
        self._router_init(models, models_max, container)
        super().__init__(**model_options(self.models, **options))


class RamalamaRouter:
    """Several models served by one llama-server in router mode (container mode).

    ``models_max`` is how many stay loaded at once; a request for another
    model loads it, unloading the least recently used. ``chat()``,
    ``complete()``, ``stream()``, ``act()``, ``parse()``,
    ``complete_text()``, ``stream_text()`` and ``conversation()`` take
    ``model=``, one of ``models``; all but ``conversation()`` take
    ``cancel=`` (a CancelToken), as a model's do.
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
        self._core = _RouterCore(
            models,
            models_max,
            container,
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

    def __repr__(self) -> str:
        state = f"serving at {self.base_url}" if self.is_running else "stopped"
        return f"{type(self).__name__}(models={list(self.models)!r}, {state})"

    # -- the server ----------------------------------------------------------

    @property
    def models(self) -> tuple[str, ...]:
        """The models served, as given."""
        return self._core.models

    @property
    def models_max(self) -> int:
        return self._core.models_max

    @property
    def is_running(self) -> bool:
        return self._core.is_running

    @property
    def port(self) -> int | None:
        return self._core.port

    @property
    def base_url(self) -> str | None:
        """``http://HOST:PORT/v1``, what an OpenAI client takes as base_url."""
        return self._core.base_url

    @property
    def api_key(self) -> str | None:
        """The key the server demands, None if none (as for a model)."""
        return self._core.api_key

    def cancel(self) -> int:
        """Stop every call in flight, whichever model it names (see the model's);
        a CancelToken given as ``cancel=`` stops one call."""
        return self._core.cancel()

    def logs(self, tail: int = 20) -> list[str]:
        """The last lines that the current (or last) server wrote."""
        return self._core.logs(tail)

    def __enter__(self) -> RamalamaRouter:
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
        """Pull every model into ramalama's store, as a model's ``download()``."""
        self._core.download(force=force, progress=progress)

    def serve(self) -> None:
        """Start the router and return once it answers; no-op if it already runs."""
        self._core.serve()

    def stop(self) -> None:
        """Stop the router and wait until all its processes are gone; idempotent."""
        self._core.stop()

    # -- what works behind a router ------------------------------------------

    def chat(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        model: str,
        cancel: CancelToken | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatMessage:
        """Send ``message`` to ``model`` (loaded first if it is not); ``cancel``:
        a CancelToken that stops this call alone."""
        messages = protocol.chat_messages(message, history)
        return self._core._chat(messages, options, model, cancel)

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        model: str,
        cancel: CancelToken | None = None,
        **options: Unpack[ChatOptions],
    ) -> Completion:
        """A whole conversation to ``model``; see a model's ``complete()``."""
        return self._core._complete(messages, options, model, cancel)

    def stream(
        self,
        message: str,
        history: list[ChatMessage] | None = None,
        *,
        model: str,
        cancel: CancelToken | None = None,
        **options: Unpack[ChatOptions],
    ) -> ChatStream:
        """Yield ``model``'s reply as it is generated."""
        messages = protocol.chat_messages(message, history)
        body = self._core._complete_body(messages, options, stream=True, target=model)
        return self._core._stream(body, cancel=cancel)

    def act(
        self,
        prompt: str | list[ChatMessage],
        tools: Sequence[ToolSource],
        *,
        model: str,
        history: list[ChatMessage] | None = None,
        max_rounds: int = 10,
        on_message: MessageCallback | None = None,
        raise_tool_errors: bool = False,
        cancel: CancelToken | None = None,
        **options: Unpack[ActOptions],
    ) -> ActResult:
        """Let ``model`` call ``tools`` until it answers; see a model's ``act()``."""
        return self._core._act(
            prompt,
            tools,
            history,
            max_rounds,
            on_message,
            raise_tool_errors,
            options,
            model,
            cancel,
        )

    def parse(
        self,
        prompt: str | list[ChatMessage],
        schema: type[M],
        *,
        model: str,
        history: list[ChatMessage] | None = None,
        retries: int = 0,
        cancel: CancelToken | None = None,
        **options: Unpack[ParseOptions],
    ) -> M:
        """``model``'s reply as a validated instance of the pydantic class ``schema``."""
        return self._core._parse(prompt, schema, history, retries, options, model, cancel)

    def complete_text(
        self,
        prompt: str,
        *,
        model: str,
        cancel: CancelToken | None = None,
        **options: Unpack[GenerationOptions],
    ) -> TextCompletion:
        """Continue ``prompt`` with ``model`` (no chat template)."""
        return self._core._complete_text(prompt, options, model, cancel)

    def stream_text(
        self,
        prompt: str,
        *,
        model: str,
        cancel: CancelToken | None = None,
        **options: Unpack[GenerationOptions],
    ) -> TextStream:
        """``complete_text()``, streamed."""
        return self._core._stream_text(prompt, options, model, cancel)

    def conversation(self, system: str | None = None, *, model: str) -> Conversation:
        """A conversation with ``model`` that keeps its own history."""
        self._core._target(model)  # an unknown name fails now, not at the first say()
        return Conversation(self._core, system, model)

    # -- loading and unloading -----------------------------------------------

    def load(self, model: str) -> None:
        """Load ``model`` now and return once it answers."""
        target = self._core._router_id(model)
        states = self._states()
        if states.get(target) == "loaded":
            return
        self._router_call("POST", "/models/load", {"model": target})
        self._wait_for(model, target, "loaded")

    def unload(self, model: str) -> None:
        """Unload ``model`` (it loads again when a request names it)."""
        target = self._core._router_id(model)
        states = self._states()
        if states.get(target) in ("unloaded", "failed", None):
            return
        self._router_call("POST", "/models/unload", {"model": target})
        self._wait_for(model, target, "unloaded")

    def loaded(self) -> list[str]:
        """The models loaded now, as named in ``models``."""
        states = self._states()
        ids = self._core._ids
        return [name for name in self.models if states.get(ids.get(name, "")) == "loaded"]

    def _states(self) -> dict[str, str]:
        return model_states(self._router_call("GET", "/models", None))

    def _wait_for(self, name: str, target: str, wanted: str) -> None:
        deadline = time.monotonic() + self._core.options.timeout
        while True:
            states = self._states()
            state = states.get(target, "unknown")
            if state == wanted:
                return
            if state == "failed" and wanted == "loaded":
                raise wait_failed(name, state, self._core)
            if time.monotonic() >= deadline:
                timeout = self._core.options.timeout
                raise ServerTimeoutError(name, timeout, self._core.logs(20))
            io.sleep(_POLL)

    def _router_call(self, method: str, path: str, payload: object) -> bytes:
        data = None if payload is None else json.dumps(payload).encode()
        return self._core._call(method, path, data, root=True)
