"""What the sync and async models share: options, state, errors; no I/O loop.

The two public classes only differ in how they wait (blocking or awaiting);
everything else about a model lives here once.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from . import commands, engine, failures
from .commands import Mode
from .errors import (
    APIConnectionError,
    APITimeoutError,
    DownloadError,
    RamalamaError,
    ServerNotRunningError,
)
from .options import ModelOptions
from .process import LogFile
from .server import Server

DEFAULT_LOG_LINES = 20


class BaseModel:
    """Options, the current server and the mapping of failures to errors."""

    def __init__(
        self,
        *,
        model: str,
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
    ) -> None:
        self.options = ModelOptions(
            model=model,
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
        )
        self._mode: Mode | None = None
        self._server: Server | None = None
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
        """Whether a server started by this object is up."""
        return self._server is not None and self._server.alive

    @property
    def port(self) -> int | None:
        """The served port, None when not serving."""
        return self._server.port if self._server is not None else self.options.port

    @property
    def base_url(self) -> str | None:
        """``http://HOST:PORT/v1``, what an OpenAI client takes as base_url."""
        return self._server.base_url if self._server is not None else None

    def logs(self, tail: int = DEFAULT_LOG_LINES) -> list[str]:
        """The last lines that the current (or last) server wrote."""
        if self._server is not None:
            return self._server.log.tail(tail)
        return self._last_log[-tail:] if tail > 0 else []

    # -- shared steps ----------------------------------------------------

    def _resolve(self) -> tuple[Mode, str]:
        """The container mode and the ramalama executable, decided once."""
        ramalama = engine.find_ramalama()
        if self._mode is None:
            self._mode = engine.decide_mode(self.options.container)
        return self._mode, ramalama

    def _env(self) -> dict[str, str]:
        return engine.child_env()

    def _pull_argv(self) -> list[str]:
        mode, ramalama = self._resolve()
        return commands.pull_argv(ramalama, self.options.model, mode)

    def _pull_failed(self, argv: list[str], code: int, output: str) -> DownloadError:
        return failures.download_error(self.options.model, argv, code, output)

    def _new_pull_log(self) -> LogFile:
        return LogFile(prefix="ramalama-sdk-pull-")

    def _adopt(self, server: Server, stop: Callable[[], None]) -> None:
        """Make ``server`` current; stop it at garbage collection or exit."""
        self._server = server
        self._finalizer = weakref.finalize(self, stop)

    def _release(self) -> Server | None:
        """Forget the current server (the caller stops it)."""
        server, self._server = self._server, None
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if server is not None:
            self._last_log = server.log.tail(200)
        return server

    def _require_server(self) -> Server:
        server = self._server
        if server is None or not server.alive:
            raise self._not_running()
        return server

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

    def _transport_error(self, exc: BaseException, *, timed_out: bool) -> RamalamaError:
        """A connection failure as the user should see it."""
        if self._server is not None and not self._server.alive:
            return self._not_running()
        if timed_out:
            return APITimeoutError(
                f"no answer within {self.options.request_timeout:g} s (request_timeout)"
            )
        return APIConnectionError(f"connection to the server failed: {exc}")
