"""What the sync and async models share: options, state, errors; no I/O loop.

The two public classes only differ in how they wait (blocking or awaiting);
everything else about a model lives here once.
"""

from __future__ import annotations

import enum
import functools
import os
import secrets
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from .. import commands
from ..commands import API_KEY_ENVS, Mode
from ..endpoints import embeddings
from ..endpoints.status import serve_args as metrics_args
from ..errors import (
    APIConnectionError,
    APITimeoutError,
    RamalamaError,
    ServerNotRunningError,
    UnsupportedError,
)
from ..http import images, protocol
from ..http.addresses import check_base_url, is_loopback_url
from ..options import DEFAULT_PROMPT_CACHE_SIZE, ModelOptions, Runtime, check_api_key
from ..process import engine, registry, server_image
from ..process.server import Server, start_steps
from ..process.steps import Step
from ..prompt_cache import slots
from ..prompt_cache import start as prompt_start
from ..prompt_cache.start import start_with_prompts
from ..prompt_cache.states import prompt_cache_folder
from ..store.progress import ProgressCallback, default_reporter
from ..store.pull import download_steps
from ..store.references import model_reference
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


class Auto(enum.Enum):
    """The default of ``download(progress=...)``: a bar where someone can see it."""

    AUTO = "auto"


AUTO = Auto.AUTO


class ModelCore:
    """Options, the current server and the mapping of failures to errors."""

    def __init__(
        self,
        *,
        model: str | os.PathLike[str],
        base_image: str | None = None,
        temp: float = 0.8,
        ngl: int = -1,
        max_tokens: int = 0,
        threads: int = -1,
        ctx_size: int = 0,
        timeout: float = 30,
        container: bool | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        request_timeout: float = 600,
        api_key: str | bool | None = None,
        runtime: Runtime = "llama.cpp",
        runtime_args: Sequence[str] = (),
        thinking: bool | None = None,
        embedding: bool = False,
        rerank: bool = False,
        pooling: str | None = None,
        prompt_cache: bool | str | os.PathLike[str] | None = None,
        prompt_cache_size: int = DEFAULT_PROMPT_CACHE_SIZE,
        metrics: bool = False,
    ) -> None:
        self.options = ModelOptions(
            model=model_reference(model),  # type: ignore[arg-type]  # checked there
            base_image=base_image,
            temp=temp,
            ngl=ngl,
            max_tokens=max_tokens,
            threads=threads,
            ctx_size=ctx_size,
            timeout=timeout,
            container=container,
            port=port,
            host=host,
            request_timeout=request_timeout,
            api_key=api_key,
            runtime=runtime,
            runtime_args=runtime_args,
            thinking=thinking,
            prompt_cache=prompt_cache_folder(prompt_cache),
            prompt_cache_size=prompt_cache_size,
        )
        extra = embeddings.serve_args(embedding, rerank, pooling, self.options.runtime)
        extra += metrics_args(metrics, self.options.runtime)
        if extra:  # llama-server's own flags, after the caller's
            self.options = replace(self.options, runtime_args=(*self.options.runtime_args, *extra))
        self._mode: Mode | None = None
        self._server: Server | None = None
        self._attached_url: str | None = None
        self._key: str | None = None
        self._last_log: list[str] = []
        self._finalizer: weakref.finalize | None = None  # type: ignore[type-arg]
        self._init_io()

    def _init_io(self) -> None:
        """Set up what the I/O flavour needs (locks, sessions)."""

    def __repr__(self) -> str:
        state = f"serving at {self.base_url}" if self.is_running else "stopped"
        return f"{type(self).__name__}(model={self.options.model!r}, {state})"

    @property
    def model(self) -> str:
        """The model name as given."""
        return self.options.model

    @property
    def is_running(self) -> bool:
        """Whether the model can be chatted with: served by this object and up,
        or connected to a server elsewhere (until ``stop()``)."""
        if self._attached_url is not None:
            return True
        return self._server is not None and self._server.alive

    @property
    def port(self) -> int | None:
        """The served port, None when not serving."""
        return self._server.port if self._server is not None else self.options.port

    @property
    def base_url(self) -> str | None:
        """``http://HOST:PORT/v1``, what an OpenAI client takes as base_url."""
        if self._attached_url is not None:
            return self._attached_url
        return self._server.base_url if self._server is not None else None

    @property
    def api_key(self) -> str | None:
        """The key the server demands (``Authorization: Bearer KEY``), None if none.

        A served model gets a fresh random key each ``serve()`` unless
        ``api_key`` was given as a str, or False to serve without one.
        """
        return self._key

    def logs(self, tail: int = DEFAULT_LOG_LINES) -> list[str]:
        """The last lines that the current (or last) server wrote."""
        if self._server is not None:
            return self._server.log.tail(tail)
        return self._last_log[-tail:] if tail > 0 else []

    # -- shared steps ----------------------------------------------------

    def _resolve(self) -> tuple[Mode, str]:
        """The container mode and the ramalama executable, decided once.

        May run ``podman info``/``docker info``: async callers use a thread.
        """
        ramalama = engine.find_ramalama()
        if self._mode is None:
            decided = engine.decide_mode(self.options.container)
            self._mode = commands.runtime_mode(self.options.runtime, decided)
        return self._mode, ramalama

    def _env(self) -> dict[str, str]:
        env = engine.child_env()
        for name in API_KEY_ENVS.values():  # the caller's own keys must not leak in
            if name is not None:
                env.pop(name, None)
        key_env = API_KEY_ENVS[self.options.runtime]
        if self._key is not None and key_env is not None:
            env[key_env] = self._key
        return env

    def _check_not_attached(self, action: str) -> None:
        if self._attached_url is not None:
            raise RamalamaError(
                f"cannot {action}: this model is connected to a server at "
                f"{self._attached_url} that runs elsewhere"
            )

    def _download_steps(
        self, force: bool, progress: ProgressCallback | Auto | None
    ) -> Generator[Step, object, None]:
        self._check_not_attached("download")
        if not isinstance(force, bool):
            raise TypeError("force must be True or False")
        if progress is not AUTO and progress is not None and not callable(progress):
            raise TypeError("progress must be a callable, None or left out")
        mode, ramalama = self._resolve()
        model = self.options.model
        pull = commands.pull_argv(ramalama, model, mode)
        rm = commands.rm_argv(ramalama, [model], mode, ignore=True) if force else None
        callback = default_reporter(model) if progress is AUTO else progress
        steps = download_steps(model, pull, rm, self._env(), progress=callback)
        if mode.container:  # the server image first, outside serve()'s timeout
            return server_image.with_image(self.options, mode, ramalama, self._env(), steps)
        return steps

    def _start_steps(self, mode: Mode, ramalama: str) -> Generator[Step, object, Server]:
        """The start-up steps, with a new API key for this server."""
        choice = self.options.api_key
        key_env = API_KEY_ENVS[self.options.runtime]
        if choice is False or key_env is None:
            self._key = None  # asked for none, or a runtime that cannot check one
        elif choice is None or choice is True:
            self._key = secrets.token_urlsafe(32)
        else:
            self._key = check_api_key(choice)
        env_name = key_env if self._key is not None else None
        steps = start_steps(self.options, mode, ramalama, api_key_env=env_name)
        if self.options.prompt_cache is None:
            return steps
        inspect = [ramalama, *commands.global_flags(mode), "inspect", "--json"]
        locate = functools.partial(
            slots.locate_model, [*inspect, "--", self.options.model], self._env()
        )
        return start_with_prompts(steps, self.options, headers=self._headers(), locate_model=locate)

    def _save_prompt(self) -> list[Path]:
        """Save the server's prompt states now (blocking); see ``save_prompt()``."""
        self._check_not_attached("save prompts")
        if self.options.prompt_cache is None:
            raise UnsupportedError(
                f"{self.options.model!r} is served without prompt_cache: nowhere to save to"
            )
        server = self._server
        if server is None or not server.alive:
            raise self._not_running()
        return prompt_start.save(server)

    def _adopt(self, server: Server, stop: Callable[[], None]) -> None:
        """Make ``server`` current; stop it at garbage collection or exit."""
        self._server = server
        self._finalizer = weakref.finalize(self, stop)
        registry.track(self)

    def _release(self) -> Server | None:
        """Forget the current server or connection (the caller stops it)."""
        server, self._server = self._server, None
        self._attached_url = None
        registry.untrack(self)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if server is not None:
            self._last_log = server.log.tail(200)
        return server

    def _attach(self, base_url: str, api_key: str | None) -> None:
        self._attached_url = check_base_url(base_url)
        self._key = check_api_key(api_key) if api_key is not None else None

    def _attached_to_loopback(self) -> bool:
        """Whether the connected server is on this machine: never proxied,
        whatever HTTP_PROXY says (the prompt and the key would reach the proxy)."""
        return self._attached_url is not None and is_loopback_url(self._attached_url)

    # -- requests --------------------------------------------------------

    def _headers(self, *, own_connection: bool = False) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self._key is not None:
            headers["Authorization"] = f"Bearer {self._key}"
        if own_connection:  # see RETRY_NOTE in sync_model.py
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
        name = self._target(target)
        checked_messages = protocol.check_history(messages)
        if not checked_messages:
            raise ValueError("messages must hold at least one message")
        checked_messages, rest = images.with_images(checked_messages, options)
        checked = protocol.check_options(rest)
        return protocol.chat_body(name, checked_messages, checked, stream=stream)

    def _user_turn(
        self, text: str, options: Mapping[str, object]
    ) -> tuple[ChatMessage, dict[str, object]]:
        """A conversation's next user message, its images read once, here:
        the history then records what the model saw. The options left."""
        (user,), rest = images.with_images(protocol.chat_messages(text), options)
        return user, rest

    def _reply_streamed(self, options: Mapping[str, object]) -> bool:
        """Whether chat() or complete() receives this reply as a stream:
        unless ``max_tokens`` (the call's, else the model's) keeps it short."""
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

    def _root_endpoint(self) -> str:
        """The server's root (``/props``, ``/tokenize``), or ServerNotRunningError."""
        endpoint = self._endpoint()
        return endpoint[: -len("/v1")] if endpoint.endswith("/v1") else endpoint

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
