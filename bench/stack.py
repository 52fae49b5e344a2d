"""The bench's private stack: a temp ramalama store, no container engine,
llama-server on PATH, the tiny model; and checks that a server is gone.

Every ramalama call of the bench runs with ``RAMALAMA_STORE`` in a temp dir
and ``RAMALAMA_CONTAINER=false``, so a run touches nothing outside it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from ramalama_sdk.stack.server_binary import find_or_build
from ramalama_sdk.testing import tiny_model

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Stack:
    """Where this run keeps its files."""

    root: Path
    bin_dir: Path
    tiny_uri: str


def _llama_server_dir(tmp: Path) -> Path:
    """A directory with a ``llama-server`` proven on this CPU (``make install`` builds one)."""
    server = find_or_build(build=False)
    link_dir = tmp / "bin"
    link_dir.mkdir()
    (link_dir / "llama-server").symlink_to(server.path.resolve())
    return link_dir


@contextlib.contextmanager
def private_stack() -> Iterator[Stack]:
    """Set up the environment for one bench run; restore it afterwards."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="ramalama-bench-") as tmp_name:
        tmp = Path(tmp_name)
        bin_dir = _llama_server_dir(tmp)
        os.environ["RAMALAMA_STORE"] = str(tmp / "store")
        os.environ["RAMALAMA_CONTAINER"] = "false"
        os.environ.pop("RAMALAMA_IN_CONTAINER", None)
        os.environ["RAMALAMA_CONFIG"] = str(tmp / "no-such-ramalama.conf")
        os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        try:
            uri = tiny_model(tmp / "tiny-llama.gguf").as_uri()
            yield Stack(root=tmp, bin_dir=bin_dir, tiny_uri=uri)
        finally:
            os.environ.clear()
            os.environ.update(saved)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """Whether a new server could bind ``port`` now (as llama-server would)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    try:
        root = psutil.Process(pid)
        return [pid, *(child.pid for child in root.children(recursive=True))]
    except psutil.Error:
        return [pid]


def dead(pid: int) -> bool:
    """Gone, or a zombie: it runs no code and holds no port or memory."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def all_dead(pids: Iterable[int]) -> bool:
    return all(dead(pid) for pid in pids)
