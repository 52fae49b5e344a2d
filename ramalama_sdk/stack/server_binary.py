"""Which llama-server the host runs: find one, prove it serves, or build one.

A llama-server binary that starts (``--version`` works) can still die on the
first model it loads, when it was compiled for instructions this CPU lacks.
So a binary counts only once it has loaded a model and answered a completion
on this machine: the probe serves a tiny model whose matrices are quantized
(Q4_0, Q5_0, Q8_0: the kernels that differ most between CPUs), on loopback.

The order: ``LLAMA_SERVER`` (a path; it must pass the probe), then a
``llama-server`` on PATH (skipped with a note if it fails the probe), then
the source build of :mod:`ramalama_sdk.stack.server_build` for this CPU, cached.
``RAMALAMA_SDK_FORCE_BUILD=1`` skips the first two. A cached build that fails
its checks or the probe is replaced by a new build, once.

The probe's server runs in a process group that a watchdog kills should this
process die first: a killed ``setup`` leaves no server listening.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..process.child_groups import ChildGroups
from . import server_build
from .tiny_llama import tiny_model

__all__ = ["LlamaServer", "ProbeError", "find_or_build", "probe", "version_of"]

FORCE_BUILD_ENV = "RAMALAMA_SDK_FORCE_BUILD"
LLAMA_SERVER_ENV = "LLAMA_SERVER"
# Generous: a loaded machine may take long to start even a tiny model.
PROBE_TIMEOUT = 120.0
_LOG_TAIL_LINES = 8

Progress = Callable[[str], None]


class ProbeError(RuntimeError):
    """A llama-server failed to serve the probe model on this machine."""

    def __init__(self, binary: Path, reason: str, log_tail: list[str]) -> None:
        tail = "".join(f"\n  {line}" for line in log_tail)
        super().__init__(f"{binary} cannot serve on this machine: {reason}{tail}")
        self.binary = binary
        self.reason = reason
        self.log_tail = log_tail


@dataclasses.dataclass(frozen=True)
class LlamaServer:
    """A llama-server proven on this machine, and where it came from."""

    path: Path
    origin: str  # "LLAMA_SERVER", "PATH" or "build"
    version: str
    build_info: dict[str, object] | None = None

    def describe(self) -> str:
        """One line for a log: path, version and, for our builds, the flags."""
        text = f"{self.path} ({self.origin}; {self.version})"
        if self.build_info:
            flags = " ".join(str(f) for f in self.build_info.get("flags", []))  # type: ignore[attr-defined]
            version = self.build_info.get("llama_cpp_version")
            text += f" llama.cpp {version} built for {self.build_info.get('level')} with {flags}"
        return text


def version_of(binary: Path) -> str:
    """What ``llama-server --version`` says, on one line."""
    try:
        done = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unknown version ({exc})"
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    wanted = [line for line in lines if line.startswith(("version:", "built with"))]
    return "; ".join(wanted or lines[:2]) or f"unknown version (exit {done.returncode})"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, body: dict[str, object] | None, timeout: float) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    # Loopback never goes through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def probe(binary: Path, model: Path, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Serve ``model`` with ``binary`` on loopback and ask for a completion.

    Returns once the server answered; raises ProbeError with the exit code
    and the log's last lines otherwise. Nothing is left running.
    """
    with tempfile.TemporaryFile() as log:
        port = _free_port()
        argv = [
            str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--ctx-size", "256", "--threads", str(min(os.cpu_count() or 1, 4)),
        ]  # fmt: skip
        with ChildGroups() as children:
            proc = children.popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
            _await_completion(binary, proc, port, log, timeout)


def _await_completion(
    binary: Path, proc: subprocess.Popen[bytes], port: int, log: IO[bytes], timeout: float
) -> None:
    """Wait for the probe server to be ready and answer a completion."""

    def failed(reason: str) -> ProbeError:
        log.seek(0)
        lines = log.read().decode(errors="replace").splitlines()
        return ProbeError(binary, reason, lines[-_LOG_TAIL_LINES:])

    deadline = time.monotonic() + timeout
    base = f"http://127.0.0.1:{port}"
    while True:
        code = proc.poll()
        if code is not None:
            raise failed(f"it exited with code {code} while loading the probe model")
        if time.monotonic() > deadline:
            raise failed(f"it was not ready within {timeout:.0f} s")
        with contextlib.suppress(OSError):
            if _request(f"{base}/health", None, 5)[0] == 200:
                break
        time.sleep(0.05)
    try:
        status, body = _request(
            f"{base}/completion",
            {"prompt": "the", "n_predict": 8, "temperature": 0},
            max(deadline - time.monotonic(), 10),
        )
    except OSError as exc:
        raise failed(f"the completion request failed ({exc})") from None
    if status != 200 or "content" not in json.loads(body or b"{}"):
        raise failed(f"the completion request answered {status}: {body[:200]!r}")


def _probe_model(directory: Path) -> Path:
    return tiny_model(directory / "probe-quantized.gguf", quantized=True)


def find_or_build(
    *,
    force_build: bool | None = None,
    build: bool = True,
    progress: Progress = lambda line: None,
) -> LlamaServer:
    """A llama-server proven on this machine (see the module's docstring).

    ``build=False`` never compiles: with no usable binary it raises
    FileNotFoundError saying how to get one.
    """
    if force_build is None:
        force_build = os.environ.get(FORCE_BUILD_ENV, "") not in ("", "0")
    with tempfile.TemporaryDirectory(prefix="ramalama-sdk-probe-") as tmp:
        model = _probe_model(Path(tmp))
        if not force_build:
            found = _from_environment(model, progress)
            if found is not None:
                return found
        return _from_cache(model, build, progress)


def _from_cache(model: Path, build: bool, progress: Progress) -> LlamaServer:
    recipe = server_build.recipe_for()
    entry = server_build.cached(recipe)
    if entry is None:
        reason = server_build.entry_problem(recipe) or "it changed while being checked"
        if not build:
            raise FileNotFoundError(
                f"no usable llama-server for this machine ({reason}): run "
                "`python -m ramalama_sdk.testing setup`, which builds one, or set "
                f"{LLAMA_SERVER_ENV} to a llama-server of your own"
            )
        progress(f"no usable cached llama-server ({reason}): building it from source")
        entry = server_build.build(recipe, progress=progress)
        fresh = True
    else:
        fresh = False
    progress(f"probing {entry.binary}")
    try:
        probe(entry.binary, model)
    except ProbeError as exc:
        if fresh or not build:
            raise
        progress(f"the cached llama-server failed the probe, replacing it: {exc}")
        server_build.discard(recipe)
        entry = server_build.build(recipe, progress=progress)
        progress(f"probing {entry.binary}")
        probe(entry.binary, model)  # a new build that fails is final
    return LlamaServer(entry.binary, "build", version_of(entry.binary), entry.info)


def _from_environment(model: Path, progress: Progress) -> LlamaServer | None:
    explicit = os.environ.get(LLAMA_SERVER_ENV)
    if explicit:
        binary = Path(explicit).expanduser().absolute()
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise FileNotFoundError(f"{LLAMA_SERVER_ENV}={explicit} is not an executable file")
        probe(binary, model)  # asked for by name: a failure is final
        return LlamaServer(binary, LLAMA_SERVER_ENV, version_of(binary), _info_beside(binary))
    on_path = shutil.which("llama-server")
    if on_path is None:
        return None
    binary = Path(on_path).absolute()
    try:
        probe(binary, model)
    except ProbeError as exc:
        progress(f"skipping the llama-server on PATH: {exc}")
        return None
    return LlamaServer(binary, "PATH", version_of(binary), _info_beside(binary))


def _info_beside(binary: Path) -> dict[str, object] | None:
    """The build record of one of our cache entries, when ``binary`` is a link to one."""
    try:
        info = json.loads((binary.resolve().parent / "build-info.json").read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None
