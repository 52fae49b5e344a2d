"""The folder of saved prompt states: locking, checking, committing, evicting.

Blocking file I/O, called from the start-up's ``Work`` steps and from a
server's stop (both off the event loop). Several processes may share one
folder: every change and every restore happens under an exclusive
``flock`` on the folder's ``.lock`` file, a state appears under its final
name by one atomic rename, and a state is never changed once named.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..stack.cache import file_sha256
from . import states
from .states import StateFile, StateKey

STALE_TEMP_SECONDS = 3600.0  # a save left unfinished by a killed process


class PromptFolder:
    """One ``prompt_cache`` folder and its size cap."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes

    def prepare(self) -> None:
        """Create the folder (and its lock file) if needed; OSError if it cannot be."""
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / states.LOCK_NAME).touch(exist_ok=True)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the folder's lock (blocking) for the block's duration."""
        fd = os.open(self.path / states.LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def files(self) -> list[StateFile]:
        """Every named state in the folder (temporary files excluded)."""
        found: list[StateFile] = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                if states.parse_name(entry.name) is None:
                    continue
                try:
                    info = entry.stat()
                except FileNotFoundError:  # evicted meanwhile
                    continue
                found.append(StateFile(entry.name, info.st_size, info.st_mtime))
        return found

    def tokens(self, name: str) -> tuple[int, ...]:
        """The prompt tokens a state holds; ValueError if its header is not sound."""
        with open(self.path / name, "rb") as handle:
            first = handle.read(12)
            size = states.header_size(first)
            return states.state_tokens(first + handle.read(size - len(first)))

    def verify(self, name: str) -> None:
        """ValueError unless the state's content is what its name says it is."""
        parsed = states.parse_name(name)
        if parsed is None:
            raise ValueError(f"{name!r} is not a state's name")
        if file_sha256(self.path / name) != parsed[2]:
            raise ValueError("its content does not match its checksum (truncated or corrupt)")

    def commit(self, temp: str, key: StateKey) -> Path:
        """Give a state written under ``temp`` its final name; return its path.

        The checksum is taken outside the lock (``temp`` is this process's
        own); the rename happens under it. The same state saved twice keeps
        one file, marked as just used.
        """
        source = self.path / temp
        states.header_size(_head(source))  # a sound state, or ValueError
        final = self.path / states.state_name(key, file_sha256(source))
        with self.locked():
            if final.exists():
                source.unlink(missing_ok=True)
                os.utime(final)
            else:
                os.replace(source, final)
        return final

    def touch(self, name: str) -> None:
        """Mark a state as just used (least recently used goes first)."""
        with contextlib.suppress(FileNotFoundError):
            os.utime(self.path / name)

    def discard(self, name: str) -> None:
        (self.path / name).unlink(missing_ok=True)

    def evict(self) -> list[str]:
        """Delete the least recently used states beyond the size cap, and
        temporary files that a killed process left; return the states deleted.
        Call it under the lock."""
        doomed = states.evictions(self.files(), self.max_bytes)
        for name in doomed:
            self.discard(name)
        now = time.time()
        with os.scandir(self.path) as entries:
            for entry in entries:
                if entry.name.startswith(states.TEMP_PREFIX):
                    with contextlib.suppress(FileNotFoundError):
                        if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                            os.unlink(entry.path)
        return doomed


def model_fingerprint(path: str | os.PathLike[str]) -> str:
    """The fingerprint of a model file (see ``states.fingerprint_spans``)."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        pieces = []
        for offset, length in states.fingerprint_spans(size):
            handle.seek(offset)
            pieces.append(handle.read(length))
    return states.fingerprint(size, pieces)


def _head(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(12)
