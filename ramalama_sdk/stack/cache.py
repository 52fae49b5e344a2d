"""What the caches under ``~/.cache/ramalama-sdk`` share.

Each cache (the llama-server builds, the real models) keeps one directory per
entry, named by a hash of what makes the entry what it is. An entry is
assembled under a temporary name and renamed into place whole; it holds a
JSON record with the sha256 of its payload, checked on every lookup, so a
half-written or damaged entry is never taken for a good one. A lock file per
entry keeps two processes from making the same entry at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

__all__ = ["cache_home", "file_sha256", "locked", "put_in_place", "read_record"]


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/ramalama-sdk`` (``~/.cache/ramalama-sdk`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ramalama-sdk"


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, as hex.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile() as file:
    ...     _ = file.write(b"abc")
    ...     file.flush()
    ...     file_sha256(Path(file.name))
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def read_record(directory: Path, record: str, payload: str) -> dict[str, object] | None:
    """The record of a sound entry: ``directory/record`` is a JSON object whose
    ``sha256`` is that of ``directory/payload``. None for anything else."""
    try:
        info = json.loads((directory / record).read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("sha256") != file_sha256(directory / payload):
            return None
    except (OSError, ValueError):
        return None
    return info


def put_in_place(entry: Path, target: Path) -> None:
    """Rename the finished ``entry`` directory to ``target``, in one step.

    A damaged entry left at ``target`` from before is replaced, never
    repaired. The caller holds the entry's lock.
    """
    if target.exists():
        shutil.rmtree(target)
    os.rename(entry, target)
