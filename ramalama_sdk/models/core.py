"""What the sync and async models share: options, state, errors; no I/O loop.

The two public classes only differ in how they wait (blocking or awaiting);
everything else about a model lives here once.
"""

from __future__ import annotations

import enum
import functools
import os
import secrets
import warnings
import weakref
from collections.abc import Callable, Generator, Sequence
from dataclasses import replace
from pathlib import Path

from .. import commands
from ..commands import API_KEY_ENVS, Mode
from ..endpoints import embeddings
from ..endpoints.status import serve_args as metrics_args
from ..errors import (
    NotARerankerWarning,
    RamalamaError,
    UnsupportedError,
)
from ..http.addresses import check_base_url, is_loopback_url
from ..http.cancelling import InFlight
from ..options import DEFAULT_PROMPT_CACHE_SIZE, ModelOptions, Runtime, check_api_key
from ..process import engine, registry, server_image, sleep
from ..process.server import Server, start_steps
from ..process.steps import Step
from ..progress import EngineProgressCallback, ProgressChoice
from ..prompt_cache import slots
from ..prompt_cache import start as prompt_start
from ..prompt_cache.start import start_with_prompts
from ..prompt_cache.states import prompt_cache_folder
from ..store.inspection import inspect_argv
from ..store.progress import ProgressCallback, default_reporter
from ..store.pull import Refresh, chained, download_steps, run_steps
from ..store.references import model_reference
from .request_core import CONNECT_TIMEOUT, DEFAULT_LOG_LINES, SHORT_REPLY_TOKENS, RequestCore

__all__ = [
    "AUTO",
    "CONNECT_TIMEOUT",
    "DEFAULT_LOG_LINES",
    "SHORT_REPLY_TOKENS",
    "Auto",
    "ModelCore",
]


class Auto(enum.Enum):
    """The default of ``download(progress=...)``: a bar where someone can see it."""

    AUTO = "auto"


AUTO = Auto.AUTO


class ModelCore(RequestCore):
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
        speculation: str | Sequence[str] | None = None,
        draft_model: str | os.PathLike[str] | None = None,
        draft_max: int | None = None,
        draft_min: int | None = None,
        sleep_after: int | None = None,
        progress: EngineProgressCallback | Auto | None = AUTO,
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
            speculation=speculation,  # type: ignore[arg-type]  # checked, made a str there
            draft_model=(
                None if draft_model is None else model_reference(draft_model)  # type: ignore[arg-type]
            ),
            draft_max=draft_max,
            draft_min=draft_min,
            sleep_after=sleep_after,
        )
        self._progress = ProgressChoice(progress, auto=progress is AUTO, runtime=runtime)
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
        self._in_flight = InFlight()
        self._init_io()

    def _init_io(self) -> None:
        """Set up what the I/O flavour needs (locks, sessions)."""

    def cancel(self) -> int:
        """Stop every call of this model in flight; return how many there were.

        Safe from any thread or task (a "stop" button). Each stopped call
        (``chat()``, ``complete()``, ``act()``, ``parse()``, a stream being
        read) raises RequestCancelledError; the server stops generating its
        reply within a token or so, and the model keeps serving later calls.
        """
        return self._in_flight.cancel_all()

    def __repr__(self) -> str:
        state = f"serving at {self.base_url}" if self.is_running else "stopped"
        if self.is_sleeping:
            state += ", asleep"
        return f"{type(self).__name__}(model={self.options.model!r}, {state})"

    @property
    def is_sleeping(self) -> bool:
        """Whether the served model sleeps (``sleep_after``): its memory is
        given back, and the next request loads it again. Read from the
        server's log, without a request; False for a connected model (its
        ``info().sleeping`` says)."""
        server = self._server
        if server is None or self.options.sleep_after is None or not server.alive:
            return False
        return sleep.asleep(server.log.tail(sleep.TAIL_LINES))

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
        steps = self._pull_steps(model, force, progress, mode, ramalama)
        draft = self.options.draft_model
        if draft is not None:  # pulled like the model: serve() then finds it in the store
            steps = chained(steps, self._pull_steps(draft, force, progress, mode, ramalama))
        if mode.container:  # the server image first, outside serve()'s timeout
            return server_image.with_image(self.options, mode, ramalama, self._env(), steps)
        return steps

    def _pull_steps(
        self,
        model: str,
        force: bool,
        progress: ProgressCallback | Auto | None,
        mode: Mode,
        ramalama: str,
    ) -> Generator[Step, object, None]:
        pull = commands.pull_argv(ramalama, model, mode)
        rm = commands.rm_argv(ramalama, [model], mode, ignore=True)
        # A file:// model changed since the store took its copy is copied again.
        refresh = Refresh(inspect_argv(ramalama, model, mode, everything=False), rm)
        callback = default_reporter(model) if progress is AUTO else progress
        return download_steps(
            model, pull, rm if force else None, self._env(), progress=callback, refresh=refresh
        )

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
        progress = self._progress.reporter(self.options.model)
        steps = start_steps(self.options, mode, ramalama, api_key_env=env_name, progress=progress)
        if embeddings.served_for(self.options.runtime_args) == "rerank()":
            steps = self._reranker_checked(mode, ramalama, steps)
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

    def _reranker_checked(
        self, mode: Mode, ramalama: str, then: Generator[Step, object, Server]
    ) -> Generator[Step, object, Server]:
        """Warn (NotARerankerWarning) when the stored GGUF is no reranker, then start."""
        model = self.options.model
        try:
            argv = inspect_argv(ramalama, model, mode)
            code, output = yield from run_steps(argv, self._env(), lines=100_000)
        except BaseException:
            then.close()
            raise
        if code == 0 and embeddings.is_reranker(output) is False:
            warnings.warn(
                f"{model!r} is not a reranker (its GGUF declares no rank pooling and has "
                "no classification head): rerank=True serves it, but its scores mean "
                "nothing; serve a reranker model (e.g. a bge-reranker GGUF)",
                NotARerankerWarning,
                stacklevel=2,
            )
        return (yield from then)

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
