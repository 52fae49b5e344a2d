"""The real test bed: ramalama from PyPI, a real llama-server, a tiny GGUF.

Every ramalama call of the suite uses a private store in a temp dir, and runs
without a container engine (``RAMALAMA_CONTAINER=false``, which the SDK reads
the way ramalama does). Container tests ask for it explicitly
(``container=True``): on real podman through the ``podman_bed`` fixture, and
for docker, which no daemon here runs, with stand-ins that say so.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.process import engine
from ramalama_sdk.stack.server_binary import LlamaServer, ProbeError, find_or_build
from ramalama_sdk.stack.server_build import cpu_level, cpu_name
from ramalama_sdk.testing import tiny_model

# The container test bed (podman and its image): fixture podman_bed.
pytest_plugins = ["podman_bed"]

_SERVER: LlamaServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Find the llama-server of this run once, before anything is collected.

    It must have served a quantized model on this CPU (the probe of
    ``ramalama_sdk.stack.server_binary``); nothing is built here: ``make test``
    runs the setup that builds one first.
    """
    global _SERVER
    try:
        _SERVER = find_or_build(build=False)
    except (FileNotFoundError, ProbeError) as exc:
        pytest.exit(f"no llama-server that serves on this machine: {exc}", returncode=3)


def pytest_report_header(config: pytest.Config) -> list[str]:
    assert _SERVER is not None
    return [f"llama-server: {_SERVER.describe()}", f"cpu: {cpu_name()} ({cpu_level()})"]


def _llama_server_dir(tmp: Path) -> Path | None:
    """A directory holding a ``llama-server`` command, or None if ramalama finds it anyway."""
    assert _SERVER is not None
    found = shutil.which("llama-server", path=engine.child_path())
    if found is not None and Path(found).resolve() == _SERVER.path.resolve():
        return None
    link_dir = tmp / "bin"
    link_dir.mkdir()
    (link_dir / "llama-server").symlink_to(_SERVER.path.resolve())
    return link_dir


@pytest.fixture(scope="session", autouse=True)
def real_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Private store, no container engine, llama-server reachable."""
    tmp = tmp_path_factory.mktemp("stack")
    saved = dict(os.environ)
    os.environ["RAMALAMA_STORE"] = str(tmp / "store")
    os.environ["RAMALAMA_CONTAINER"] = "false"
    os.environ.pop("RAMALAMA_IN_CONTAINER", None)
    # Keep whatever RAMALAMA_CONFIG the host has from changing the runs.
    os.environ["RAMALAMA_CONFIG"] = str(tmp / "no-such-ramalama.conf")
    link_dir = _llama_server_dir(tmp)
    if link_dir is not None:
        os.environ["PATH"] = f"{link_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny GGUF of ramalama_sdk.testing, written once per run."""
    return tiny_model(tmp_path_factory.mktemp("models") / "tiny-llama.gguf")


@pytest.fixture(scope="session")
def model_uri(model_file: Path) -> str:
    return model_file.as_uri()


@pytest.fixture(scope="session")
def tools_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model with a template that takes tools: it calls one when
    told to (``tool_choice="required"``: a grammar built from their schemas)."""
    return tiny_model(tmp_path_factory.mktemp("tools"), tools=True).as_uri()


@pytest.fixture(scope="session")
def embedding_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model declaring mean pooling, as embedding GGUFs do."""
    return tiny_model(tmp_path_factory.mktemp("embedding"), pooling="mean").as_uri()


def served_fixtures(uri_fixture: str, **options: Any) -> tuple[object, object]:
    """The fixtures ``model`` (served once for the module) and ``amodel``
    (served for each test) of the model that the fixture ``uri_fixture``
    names, with ``options``. A module binds them by those names:
    ``model, amodel = served_fixtures("tools_uri")``."""

    @pytest.fixture(scope="module")
    def model(request: pytest.FixtureRequest) -> Iterator[RamalamaModel]:
        with RamalamaModel(model=request.getfixturevalue(uri_fixture), **options) as served:
            yield served

    @pytest.fixture
    async def amodel(request: pytest.FixtureRequest) -> AsyncIterator[AsyncRamalamaModel]:
        uri = request.getfixturevalue(uri_fixture)
        async with AsyncRamalamaModel(model=uri, **options) as served:
            yield served

    return model, amodel


@pytest.fixture
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_processes() -> list[psutil.Process]:
    """Every ramalama or llama-server process of this test run still alive."""
    store = os.environ["RAMALAMA_STORE"]
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if has_exited(proc):
                continue
            cmdline = proc.info["cmdline"] or []
            names = [os.path.basename(arg) for arg in cmdline[:2]]
            ours_llama = "llama-server" in names and any(store in arg for arg in cmdline)
            ours_ramalama = "ramalama" in names and proc.environ().get("RAMALAMA_STORE") == store
            if ours_llama or ours_ramalama:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def has_exited(proc: psutil.Process) -> bool:
    """Gone, or a zombie whose threads have all ended (init may reap it late)."""
    try:
        return proc.status() == psutil.STATUS_ZOMBIE and proc.num_threads() <= 1
    except psutil.NoSuchProcess:
        return True


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of ``procs`` still running after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if not has_exited(p)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.01)


def sleeping_llama_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Put first on PATH a stand-in llama-server that starts and never answers
    (a huge model still loading): what no real binary does on demand."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "llama-server"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def port_is_listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def run_python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    """Start a Python child running ``code`` with this test run's environment."""
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def serving_child(
    code: str, **kwargs: object
) -> tuple[subprocess.Popen[str], int, list[psutil.Process]]:
    """Start a Python child running ``code``, which serves a model and prints
    ``PORT RAMALAMA_PID``: the child, the port and the server's processes."""
    child = run_python(code, **kwargs)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=30)[1]
        port, ramalama_pid = (int(x) for x in line.split())
        ramalama = psutil.Process(ramalama_pid)
        return child, port, [ramalama, *ramalama.children(recursive=True)]
    except BaseException:
        child.kill()
        child.wait()
        raise


def sockets_to(port: int) -> int:
    """How many TCP connections this process has open to ``port``."""
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def busy(model: object) -> int:
    """How many of the blocking model's pooled connections carry a request now."""
    transport = model._transport  # type: ignore[attr-defined]
    return len(transport._pool._busy) if transport is not None else 0


def in_flight(model: object) -> bool:
    """Whether one of the served model's pooled connections carries a request."""
    return busy(model) > 0


async def wait_sent(model: object, count: int = 1) -> None:
    """Wait (a minute at most) until ``count`` requests of the async model are
    on their way: aiohttp holds a connection for each."""
    connector = model._transport._session.connector  # type: ignore[attr-defined]
    for _ in range(6000):
        if len(connector._acquired) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} request(s) never went out")


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``call`` in a worker thread; its outcome (result or exception) lands in the list."""
    outcome: list[object] = []

    def worker() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    return thread, outcome


def wait_until(condition: Callable[[], object], timeout: float = 10) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def llama_server_of(model: object) -> psutil.Process:
    """The llama-server process that serves ``model`` (a served model, not a container)."""
    server = model._server  # type: ignore[attr-defined]
    assert server is not None and server.popen is not None
    (llama,) = [
        p
        for p in psutil.Process(server.popen.pid).children(recursive=True)
        if p.name().startswith("llama-server")
    ]
    return llama


# llama-server's line when a slot takes a request, before it generates.
_LAUNCH = re.compile(r"slot launch_slot_: .* processing task")


def started_replies(model: object) -> int:
    """How many requests the server has begun to work on, from its own log
    (asking its HTTP API would queue behind the generation it watches)."""
    lines = model.logs(100_000)  # type: ignore[attr-defined]
    return sum(1 for line in lines if _LAUNCH.search(line))


def settled(model: object, replies: int) -> tuple[int, int]:
    """(begun, released) from the server's log, once it shows the first
    ``replies`` replies begun and released. llama-server writes its log from
    a thread of its own, so the lines of a reply may come after the reply
    itself: counting at once could miss them, and a count taken too low lets
    a later wait end on a line of a reply that was already over."""
    assert wait_until(
        lambda: started_replies(model) >= replies and len(released_replies(model)) >= replies, 60
    ), f"the server's log never showed {replies} replies begun and released"
    return started_replies(model), len(released_replies(model))


def wait_started(model: object, since: int) -> None:
    """Until the server has begun a request beyond the first ``since``."""
    assert wait_until(lambda: started_replies(model) > since, timeout=120), "never started"


def freeze_when_busy(model: object, llama: psutil.Process, since: int) -> None:
    """SIGSTOP ``llama`` once it works on a new request (``since``: the count of
    started_replies() before it was sent): a server fallen silent mid-reply.
    The caller resumes it."""
    wait_started(model, since)
    llama.suspend()


# What a pace() caller's received() returns once its stream has ended.
STREAM_ENDED = 10**9


def pace(llama: psutil.Process, pause: float, times: int, received: Callable[[], int]) -> None:
    """Freeze ``llama`` for ``pause`` seconds, ``times`` times: a reply that
    takes long but never falls silent for much longer than ``pause``, however
    fast or loaded this machine. Between two freezes the client must have
    received more of the reply (``received()``: how much so far), so that two
    pauses never join into one silence."""
    for _ in range(times):
        llama.suspend()
        time.sleep(pause)
        # What was on its way before the freeze has arrived by now: wait for
        # what the server sends after it.
        seen = received()
        llama.resume()
        if seen >= STREAM_ENDED:
            return
        assert wait_until(functools.partial(_more, received, seen), timeout=120), "no more came"


def _more(received: Callable[[], int], seen: int) -> bool:
    return received() > seen


# llama-server's line when a slot is done with a reply, however it ended.
_RELEASE = re.compile(r"slot +release: .* stop processing: n_tokens = (\d+)")
# A reply that runs to its natural end here fills the tiny model's slot
# context (2048 tokens): llama-server releases it at 2047.
FULL_SLOT_TOKENS = 2047


def released_replies(model: object) -> list[int]:
    """Every reply the server has finished with, as the tokens its slot held
    (prompt and reply): fewer than FULL_SLOT_TOKENS means it was cut short."""
    lines = model.logs(100_000)  # type: ignore[attr-defined]
    return [int(match[1]) for line in lines if (match := _RELEASE.search(line))]
