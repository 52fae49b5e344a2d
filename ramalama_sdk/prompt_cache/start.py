"""The start-up with ``prompt_cache``: the folder first, the restore last.

``start_with_prompts`` wraps the steps that bring a server up (see
process/server.py): it makes sure the folder exists before llama-server is
given it, and once the server answers it restores the saved prompts before
``serve()`` returns, so the first request finds them. The server then saves
its slots when it is stopped.
"""

from __future__ import annotations

import functools
import warnings
import weakref
from collections.abc import Callable, Generator, Mapping
from pathlib import Path

from ..errors import PromptCacheWarning, ServerStartError
from ..options import ModelOptions
from ..process.server import Server
from ..process.steps import Step, Work
from .folder import PromptFolder
from .slots import SavedPrompts

# The prompts of each running server, for save_prompt().
_PROMPTS: weakref.WeakKeyDictionary[Server, SavedPrompts] = weakref.WeakKeyDictionary()
# A save at stop() waits this long at most for a server that does not answer.
SAVE_TIMEOUT = 60.0


def start_with_prompts(
    start: Generator[Step, object, Server],
    options: ModelOptions,
    *,
    headers: Mapping[str, str],
    locate_model: Callable[[], str],
) -> Generator[Step, object, Server]:
    """``start``, with the prompt folder ready before and restored after."""
    assert options.prompt_cache is not None
    folder = PromptFolder(options.prompt_cache, options.prompt_cache_size)
    problem = yield Work(functools.partial(_prepare, folder))
    if problem is not None:
        start.close()
        raise ServerStartError(
            f"the prompt_cache folder {str(folder.path)!r} cannot be used: {problem}",
            model=options.model,
        )
    server = yield from start
    opened = yield Work(
        functools.partial(_open_and_restore, folder, server, options, headers, locate_model)
    )
    if isinstance(opened, SavedPrompts):
        _PROMPTS[server] = opened
        server.before_stop = functools.partial(_save_at_stop, opened)
    return server


def save(server: Server) -> list[Path]:
    """Save the slots of a running server now; [] when it has no prompt cache."""
    prompts = _PROMPTS.get(server)
    return prompts.save() if prompts is not None else []


def _prepare(folder: PromptFolder) -> str | None:
    try:
        folder.prepare()
    except OSError as exc:
        return str(exc)
    return None


def _open_and_restore(
    folder: PromptFolder,
    server: Server,
    options: ModelOptions,
    headers: Mapping[str, str],
    locate_model: Callable[[], str],
) -> SavedPrompts | None:
    try:
        prompts = SavedPrompts.open(
            folder,
            server.root_url,
            headers,
            model=options.model,
            runtime_args=options.runtime_args,
            locate_model=locate_model,
            timeout=min(options.request_timeout, SAVE_TIMEOUT),
        )
    except Exception as exc:  # an unknown key: neither restore nor save
        warnings.warn(
            f"prompts of {options.model!r} are neither restored nor saved: {exc}",
            PromptCacheWarning,
            stacklevel=2,
        )
        return None
    try:
        prompts.restore()
    except OSError as exc:  # the folder itself (removed, unreadable)
        warnings.warn(
            f"saved prompts of {options.model!r} were not restored: {exc}",
            PromptCacheWarning,
            stacklevel=2,
        )
    return prompts


def _save_at_stop(prompts: SavedPrompts) -> None:
    try:
        prompts.save()
    except OSError as exc:
        warnings.warn(
            f"prompts of {prompts.model!r} were not saved: {exc}", PromptCacheWarning, stacklevel=2
        )
    finally:
        prompts.close()
