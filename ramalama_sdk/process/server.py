"""A served model: the server handle, and the steps that bring one up.

Starting a server is a small state machine written once, as a generator of
the I/O steps it needs (see steps.py), so that the port choice, the
bind-race retry, the failure diagnosis and the timeout are not written
twice for the sync and the async model.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Generator, Sequence

from .. import commands
from ..commands import Mode
from ..engine_progress import EngineProgressCallback, LoadProgressParser, ready
from ..errors import ServerStartError, ServerTimeoutError
from ..options import ModelOptions
from . import engine, failures
from .ports import listens_on, port_in_use
from .runtime_files import missing_files
from .steps import Owns, Probe, Sleep, Spawn, Step, Stop
from .supervisor import LogFile, free_port, kill_group, running_elsewhere, spawn, stop_group
from .watchdog import WatchdogError, remove
from .watchdog_owner import Watchdog

# Between health probes: small models are ready within a second, where every
# millisecond of polling delay shows; a large one loads for longer, where a
# probe every 25 ms is plenty and costs the loading server nothing.
POLL_FAST, POLL_SLOW, FAST_FOR = 0.005, 0.025, 2.0
PORT_ATTEMPTS = 3  # a port chosen free can be taken before the server binds it


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def url_host(host: str) -> str:
    """The host as it goes in a URL; a wildcard bind is reached on loopback.

    >>> url_host("0.0.0.0"), url_host("::"), url_host("::1"), url_host("127.0.0.1")
    ('127.0.0.1', '[::1]', '[::1]', '127.0.0.1')
    """
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def health_path(runtime: str) -> str:
    """The path that answers 200 once ``runtime``'s server can take requests.

    llama-server answers ``/health`` with 503 while it loads the model;
    vLLM binds its port only once the model is loaded and answers
    ``/health`` (ramalama itself polls ``/ping``, vLLM's alias of it);
    mlx_lm.server answers ``/health`` (the path ramalama polls too).

    >>> health_path("llama.cpp"), health_path("vllm"), health_path("mlx")
    ('/health', '/health', '/health')
    """
    return _HEALTH_PATHS[runtime]


_HEALTH_PATHS = {"llama.cpp": "/health", "vllm": "/health", "mlx": "/health"}


class Server:
    """One running ``ramalama serve`` child and how to reach and stop it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        model: str,
        port: int,
        host: str,
        mode: Mode,
        ramalama: str,
        name: str | None,
    ) -> None:
        self.argv = list(argv)
        self.model = model
        self.port = port
        self.mode = mode
        self.ramalama = ramalama
        self.name = name
        self.root_url = f"http://{url_host(host)}:{port}"
        self.base_url = self.root_url + "/v1"
        self.log = LogFile(prefix="ramalama-sdk-serve-")
        self.popen: subprocess.Popen[bytes] | None = None
        self._spawning: concurrent.futures.Future[subprocess.Popen[bytes]] | None = None
        self._stopped = False
        # A container runs outside ramalama's process group: see watchdog.py.
        self.watchdog: Watchdog | None = None
        self._group_killed = False
        # Called by stop() while the server still runs (saving its prompts).
        self.before_stop: Callable[[], object] | None = None
        # Only the process that spawned the child can wait for it, and only
        # that process may stop it: a forked child (a gunicorn worker) that
        # inherited this object uses the server, and leaves it alone.
        self.owner = os.getpid()

    @property
    def exit_code(self) -> int | None:
        """None while the child runs (or has not started); -1 when it has
        ended and this process cannot know how (a forked child's view)."""
        if self.popen is None:
            return None
        if os.getpid() != self.owner:
            # Popen.poll() here would read "no such child" as exit code 0.
            return None if running_elsewhere(self.popen.pid) else -1
        code = self.popen.poll()
        if code is not None and not self._stopped and not self._group_killed:
            # ramalama ended (killed alone, say): llama-server, now an
            # orphan of the same group, must not serve on for nobody.
            self._group_killed = True
            kill_group(self.popen.pid)
        return code

    @property
    def alive(self) -> bool:
        if self.popen is None or self._stopped or self.exit_code is not None:
            return False
        self.log.bound()  # cheap (one fstat) until the log has grown large
        return True

    def owns_port(self) -> bool:
        """Whether this server's own processes listen on its port.

        A health answer proves that *a* server listens there, not that it is
        this one: a port given by the user may be held by another program.
        In container mode the port is published by the engine (a process
        outside this group, or the kernel's NAT): the check made before the
        spawn (port_in_use) is what guards that mode.
        """
        if self.popen is None:
            return False
        if self.mode.container:
            return True
        return listens_on(self.popen.pid, self.port)

    def start(self, env: dict[str, str]) -> concurrent.futures.Future[subprocess.Popen[bytes]]:
        """Spawn the child; ``popen`` is set as soon as it exists."""
        ready: Callable[[], None] | None = None
        if self.mode.container and self.name is not None:
            executable = shutil.which(self.mode.engine or "podman", path=engine.child_path())
            if executable is not None:  # armed before any container can exist
                try:
                    self.watchdog = Watchdog(executable, self.name)
                except WatchdogError as exc:
                    raise ServerStartError(str(exc), model=self.model) from None
                ready = _wait_ready(self.watchdog, self.model)
        future = spawn(
            self.argv, env=env, stdout=self.log.handle, stderr=self.log.handle, before=ready
        )
        self._spawning = future
        if self.watchdog is not None:
            future.add_done_callback(_tell_group(self.watchdog))
        return future

    def stop(self) -> None:
        """Stop every process of the server and wait for them; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if os.getpid() != self.owner:
            self.log.close()  # this process's descriptor only
            return
        hook, self.before_stop = self.before_stop, None
        if hook is not None and self.popen is not None and self.popen.poll() is None:
            try:
                hook()
            except Exception:  # the hook reports its own failures; stop regardless
                pass
        try:
            if self.popen is None and self._spawning is not None:
                # Stopped while being spawned (a cancelled task): the child
                # exists or is about to, and must not be left behind.
                try:
                    self.popen = self._spawning.result()
                except Exception:
                    self.popen = None
            if self.popen is not None:
                if self.watchdog is not None:
                    remove(self.watchdog.engine, self.watchdog.name)
                elif self.mode.container and self.name is not None:
                    self._stop_container()
                stop_group(self.popen)
        finally:
            if self.watchdog is not None:
                self.watchdog.disarm()
            self.log.close()

    def _stop_container(self) -> None:
        argv = commands.stop_argv(self.ramalama, self.name or "", self.mode)
        try:
            subprocess.run(
                argv,
                env=engine.child_env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            pass  # the process group is stopped next in any case


def _wait_ready(dog: Watchdog, model: str) -> Callable[[], None]:
    def wait() -> None:
        try:
            dog.wait_ready()
        except WatchdogError as exc:
            raise ServerStartError(str(exc), model=model) from None

    return wait


def _tell_group(
    dog: Watchdog,
) -> Callable[[concurrent.futures.Future[subprocess.Popen[bytes]]], None]:
    def tell(future: concurrent.futures.Future[subprocess.Popen[bytes]]) -> None:
        if future.exception() is None:
            dog.tell_group(future.result().pid)  # the group leader: start_new_session

    return tell


def start_steps(
    options: ModelOptions,
    mode: Mode,
    ramalama: str,
    *,
    api_key_env: str | None = None,
    argv_transform: Callable[[list[str]], list[str]] | None = None,
    progress: EngineProgressCallback | None = None,
) -> Generator[Step, object, Server]:
    """The steps of one ``serve()``; returns the ready server or raises.

    ``argv_transform`` rewrites the serve command line (router mode serves
    several models). ``progress`` hears how far the model's load has got,
    read from the server's log between health probes. Every server spawned
    here is stopped again before an error leaves.
    """
    load = _LoadReport(progress)
    try:
        return (yield from _start(options, mode, ramalama, api_key_env, argv_transform, load))
    finally:
        load.close()


class _LoadReport:
    """Reads a starting server's log for its load progress; tells ``callback``."""

    def __init__(self, callback: EngineProgressCallback | None) -> None:
        self.callback = callback
        self._parser = LoadProgressParser()
        self._offset = 0
        self._log: LogFile | None = None

    def follow(self, log: LogFile) -> None:
        self._log, self._offset, self._parser = log, 0, LoadProgressParser()

    def poll(self) -> None:
        if self.callback is None or self._log is None:
            return
        data = self._log.read_from(self._offset)
        self._offset += len(data)
        # A UTF-8 sequence cut at the end only garbles text no stage needs.
        for update in self._parser.feed(data.decode("utf-8", errors="replace")):
            self.callback(update)

    def ready(self) -> None:
        if self.callback is not None:
            self.poll()
            self.callback(ready())

    def close(self) -> None:
        close = getattr(self.callback, "close", None)
        if callable(close):
            close()


def _start(
    options: ModelOptions,
    mode: Mode,
    ramalama: str,
    api_key_env: str | None,
    argv_transform: Callable[[list[str]], list[str]] | None,
    load: _LoadReport,
) -> Generator[Step, object, Server]:
    started = time.monotonic()
    deadline = started + options.timeout
    missing = [] if mode.container else missing_files(options.runtime_args)
    if missing:
        named = ", ".join(f"{option} {path!r}" for option, path in missing)
        raise ServerStartError(
            f"runtime_args name files that do not exist: {named}", model=options.model
        )
    if options.port is not None and port_in_use(options.host, options.port):
        raise ServerStartError(
            f"port {options.port} is already in use by another program: choose "
            "another port, or leave port unset for a free one",
            model=options.model,
        )
    for attempt in range(PORT_ATTEMPTS):
        port = options.port if options.port is not None else free_port(options.host)
        name = f"ramalama-sdk-{uuid.uuid4().hex[:12]}" if mode.container else None
        argv = commands.serve_argv(
            ramalama,
            options,
            mode,
            port=port,
            cpu_count=cpu_count(),
            name=name,
            api_key_env=api_key_env if mode.container else None,
        )
        if argv_transform is not None:
            argv = argv_transform(argv)
        server = Server(
            argv,
            model=options.model,
            port=port,
            host=options.host,
            mode=mode,
            ramalama=ramalama,
            name=name,
        )
        try:
            popen = yield Spawn(server)
        except BaseException:
            server.log.close()
            raise
        assert isinstance(popen, subprocess.Popen)
        server.popen = popen
        load.follow(server.log)
        health = server.root_url + health_path(options.runtime)
        while True:
            code = server.exit_code
            if code is not None:
                yield Stop(server)
                tail = server.log.tail(30)
                retry = options.port is None and attempt + 1 < PORT_ATTEMPTS
                if retry and failures.is_port_clash(tail):
                    break
                raise failures.start_error(options.model, argv, code, tail, port=port)
            ready = yield Probe(health)
            # The key is sent only once the answering server is known to be
            # this one; a foreign one makes ours exit (port in use), below.
            if ready and server.exit_code is None and (yield Owns(server)):
                load.ready()
                return server
            load.poll()
            if time.monotonic() >= deadline:
                tail = server.log.tail(30)
                yield Stop(server)
                raise ServerTimeoutError(options.model, options.timeout, tail)
            waited = time.monotonic() - started
            yield Sleep(POLL_FAST if waited < FAST_FOR else POLL_SLOW)
    raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover
