"""Restore saved prompts into a fresh llama-server, and save its slots.

Blocking I/O (HTTP to the server, the folder), run by the start-up's
``Work`` step (a worker thread under asyncio), by ``save_prompt()``, and by
the server's stop before the server is stopped. Nothing here raises for a
state that cannot be used: it warns (``PromptCacheWarning``) and the server
serves on, as if nothing had been saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import APIError, PromptCacheWarning
from ..http import protocol
from ..http.connections import ConnectionPool, TransportFailure
from . import states
from .folder import PromptFolder, model_fingerprint
from .states import StateKey

CONNECT_TIMEOUT = 5.0
LOCATE_TIMEOUT = 60.0
_LOCATED: dict[tuple[tuple[str, ...], str | None], str] = {}


class SavedPrompts:
    """The prompt states of one running server and its folder."""

    def __init__(
        self,
        folder: PromptFolder,
        pool: ConnectionPool,
        headers: Mapping[str, str],
        key: StateKey,
        slots: int,
        model: str,
    ) -> None:
        self.folder = folder
        self.key = key
        self.slots = slots
        self.model = model
        self._pool = pool
        self._headers = dict(headers)

    @classmethod
    def open(
        cls,
        folder: PromptFolder,
        root_url: str,
        headers: Mapping[str, str],
        *,
        model: str,
        runtime_args: Sequence[str],
        locate_model: Callable[[], str],
        timeout: float,
    ) -> SavedPrompts:
        """Learn the key of a ready server from its ``/props`` and its model file.

        ``locate_model`` finds the model file on this machine when the
        server's own path is not one here (in a container).
        """
        pool = ConnectionPool(root_url, connect_timeout=CONNECT_TIMEOUT, timeout=timeout)
        try:
            status, body = pool.request("GET", "/props", None, headers)
            if status != 200:
                raise protocol.api_error(status, body)
            props = protocol.json_object(body)
            settings = props.get("default_generation_settings")
            n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
            path = props.get("model_path")
            if not isinstance(path, str) or not os.path.isfile(path):
                path = locate_model()
            key = StateKey(
                model=model_fingerprint(path),
                n_ctx=n_ctx if isinstance(n_ctx, int) else 0,
                cache_types=states.cache_types(runtime_args),
                build=str(props.get("build_info", "")),
            )
            slots = props.get("total_slots")
            count = slots if isinstance(slots, int) and slots > 0 else 1
        except BaseException:
            pool.close()
            raise
        return cls(folder, pool, headers, key, count, model)

    def close(self) -> None:
        self._pool.close()

    def restore(self) -> list[int]:
        """Restore the most recently used matching states, one a slot; return
        the token count of each state restored."""
        restored: list[int] = []
        with self.folder.locked():
            mine = [f for f in self.folder.files() if f.name.startswith(self.key.model_part)]
            settings = self.key.settings_part
            matching = [f for f in mine if states.settings_of(f.name) == settings]
            if len(mine) > len(matching):
                self._warn(
                    f"{len(mine) - len(matching)} saved prompt state(s) of {self.model!r} "
                    "were made with another context size, cache type or llama-server "
                    "build: not restored (they age out of the cache)"
                )
            candidates = []
            for state in matching:
                try:
                    candidates.append((state, self.folder.tokens(state.name)))
                except (OSError, ValueError) as exc:
                    self._drop(state.name, exc)
            for slot, name in states.restore_plan(candidates, self.slots, self.key.n_ctx):
                try:
                    self.folder.verify(name)
                except (OSError, ValueError) as exc:
                    self._drop(name, exc)
                    continue
                answer = self._slot_action(slot, "restore", name)
                if answer is not None:
                    self.folder.touch(name)
                    count = answer.get("n_restored")
                    restored.append(count if isinstance(count, int) else 0)
        return restored

    def save(self) -> list[Path]:
        """Save every slot that holds a prompt; return the state files kept."""
        kept: list[Path] = []
        for slot in range(self.slots):
            temp = states.temp_name(secrets.token_hex(8))
            answer = self._slot_action(slot, "save", temp)
            try:
                if answer is None or not answer.get("n_saved"):
                    continue  # failed (warned), or an empty slot
                kept.append(self.folder.commit(temp, self.key))
            except (OSError, ValueError) as exc:
                self._warn(f"the prompt state of slot {slot} could not be kept: {exc}")
            finally:
                self.folder.discard(temp)
        with self.folder.locked():
            evicted = set(self.folder.evict())
        for path in kept:
            if path.name in evicted:
                self._warn(
                    f"a prompt state of {path.stat().st_size if path.exists() else 0} bytes "
                    f"or more does not fit in prompt_cache_size ({self.folder.max_bytes} "
                    "bytes): not kept"
                )
        return [path for path in kept if path.name not in evicted]

    def _slot_action(self, slot: int, action: str, filename: str) -> dict[str, object] | None:
        body = json.dumps({"filename": filename}).encode()
        path = f"/slots/{slot}?action={action}"
        try:
            status, data = self._pool.request("POST", path, body, self._headers)
            if status != 200:
                raise protocol.api_error(status, data)
            return protocol.json_object(data)
        except (TransportFailure, APIError) as exc:
            self._warn(f"llama-server could not {action} slot {slot} ({filename}): {exc}")
            return None

    def _drop(self, name: str, error: BaseException) -> None:
        self.folder.discard(name)
        self._warn(f"a saved prompt state of {self.model!r} was deleted, not restored: {error}")

    @staticmethod
    def _warn(message: str) -> None:
        warnings.warn(message, PromptCacheWarning, stacklevel=2)


def locate_model(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The model file in ramalama's store, from ``ramalama inspect --json``.

    Remembered for the process (a restart in a container would otherwise
    start ramalama once more), as long as the file is there.
    """
    known = _LOCATED.get((tuple(argv), env.get("RAMALAMA_STORE")))
    if known is not None and os.path.isfile(known):
        return known
    path = _inspect_path(argv, env)
    _LOCATED[(tuple(argv), env.get("RAMALAMA_STORE"))] = path
    return path


def _inspect_path(argv: Sequence[str], env: Mapping[str, str]) -> str:
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=LOCATE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OSError(f"could not run {argv[0]} inspect: {exc}") from None
    with contextlib.suppress(ValueError):
        path = json.loads(done.stdout).get("Path")
        if isinstance(path, str) and os.path.isfile(path):
            return path
    raise OSError(f"'ramalama inspect' did not name the model file (exit code {done.returncode})")
