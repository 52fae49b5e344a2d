"""The models in ramalama's store: list them, remove them.

Both run a short ``ramalama list --json`` or ``ramalama rm`` and wait for it;
nothing is served. The container mode is chosen as for a model, so a store
reached through a container engine is listed the way ``serve`` would see it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .. import commands
from ..errors import ModelNotFoundError, RamalamaError
from ..process import engine, failures
from .references import model_reference

TIMEOUT = 120.0
"""Seconds a ``list`` or ``rm`` may take before it is abandoned."""

_NOT_FOUND = re.compile(r"Model '.*' not found|is not a known shortname|No such file", re.I)


@dataclass(frozen=True)
class ModelInfo:
    """A model in the local store, as ``ramalama list`` reports it.

    ``size`` is in bytes: the model file plus what ramalama stored beside it
    (such as a chat template extracted from a GGUF). ``modified`` is
    timezone-aware.
    """

    name: str
    size: int
    modified: datetime


def list_models(*, container: bool | None = None) -> list[ModelInfo]:
    """The models in ramalama's store, in ramalama's order.

        for info in list_models():
            print(info.name, info.size, info.modified.isoformat())

    ``container`` is decided as for a model (None: ramalama's configuration,
    else an engine that answers). Raises RamalamaError when ramalama fails or
    answers with something that is not its model list.
    """
    argv = commands.list_argv(engine.find_ramalama(), engine.decide_mode(container))
    done = _run(argv)
    if done.returncode != 0:
        raise RamalamaError(_failure("listing the models", argv, done))
    return parse_model_list(done.stdout)


def remove(
    model: str | os.PathLike[str], *, ignore: bool = False, container: bool | None = None
) -> None:
    """Remove ``model`` from ramalama's store.

        remove("file:///models/tiny.gguf")
        remove("hf://org/gone", ignore=True)  # no error if it is not there

    Raises ModelNotFoundError (also a LookupError) when the store has no such
    model, unless ``ignore`` is true; RamalamaError for any other failure.
    A path (str or ``Path``) names a local file, as it does for a model,
    even once the file itself is gone.
    """
    model = stored_name(model)
    argv = commands.rm_argv(
        engine.find_ramalama(), [model], engine.decide_mode(container), ignore=ignore
    )
    done = _run(argv)
    if done.returncode == 0:
        return
    output = done.stderr + done.stdout
    said = failures.error_line(output)
    if _NOT_FOUND.search(said):
        raise ModelNotFoundError(
            f"model {model!r} is not in the store: {said} (exit code {done.returncode})",
            model=model,
            command=argv,
            exit_code=done.returncode,
            output=output,
        )
    raise RamalamaError(_failure(f"removing {model!r}", argv, done))


def stored_name(model: object) -> str:
    """The name the store knows ``model`` by: a path as its ``file://`` URI.

    >>> stored_name("tinyllama"), stored_name("/m/gone.gguf")
    ('tinyllama', 'file:///m/gone.gguf')
    """
    name = model_reference(model, must_exist=False)
    if not isinstance(name, str) or not name.strip():
        raise TypeError("model must be a non-empty str or a path")
    return name


def parse_model_list(text: str) -> list[ModelInfo]:
    """The answer of ``ramalama list --json``, checked field by field.

    >>> [info] = parse_model_list('[{"shortname": "", "name": "file:///m/tiny.gguf", '
    ...                           '"modified": "2026-01-02T03:04:05.5+00:00", "size": 128}]')
    >>> info.name, info.size, info.modified.isoformat()
    ('file:///m/tiny.gguf', 128, '2026-01-02T03:04:05.500000+00:00')
    >>> parse_model_list("[]")
    []
    """
    try:
        data = json.loads(text)
    except ValueError:
        raise _malformed(text, "not JSON") from None
    if not isinstance(data, list):
        raise _malformed(text, "not a JSON array")
    return [_model_info(entry, text) for entry in data]


def _model_info(entry: object, text: str) -> ModelInfo:
    if not isinstance(entry, dict):
        raise _malformed(text, f"an entry is not an object: {entry!r}")
    name = entry.get("name")
    size = entry.get("size")
    modified = entry.get("modified")
    if not isinstance(name, str) or not name:
        raise _malformed(text, f"an entry has no name: {entry!r}")
    # bool is an int subclass; a size of True is not a size.
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _malformed(text, f"{name!r} has no valid size: {size!r}")
    if not isinstance(modified, str):
        raise _malformed(text, f"{name!r} has no modification time: {modified!r}")
    try:
        when = datetime.fromisoformat(modified)
    except ValueError:
        raise _malformed(text, f"{name!r} has an unreadable time: {modified!r}") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise _malformed(text, f"{name!r} has a time without a timezone: {modified!r}")
    return ModelInfo(name=name, size=size, modified=when)


def _malformed(text: str, why: str) -> RamalamaError:
    shown = text if len(text) <= 2000 else text[:2000] + "..."
    return RamalamaError(f"'ramalama list --json' gave an unexpected answer ({why}):\n{shown}")


def _run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            list(argv),
            env=engine.child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RamalamaError(
            f"{_command(argv)} did not finish within {TIMEOUT:g} s and was stopped"
        ) from None
    except OSError as exc:
        raise RamalamaError(f"could not run {_command(argv)}: {exc}") from None


def _failure(what: str, argv: Sequence[str], done: subprocess.CompletedProcess[str]) -> str:
    output = (done.stderr + done.stdout).strip()
    said = failures.error_line(output) or "ramalama printed nothing"
    tail = "\n".join(output.splitlines()[-20:])
    return (
        f"{what} failed: {said} (exit code {done.returncode})\n"
        f"command: {_command(argv)}\n--- ramalama's output ---\n{tail}"
    )


def _command(argv: Sequence[str]) -> str:
    """``ramalama SUBCOMMAND``, for messages.

    >>> _command(["/usr/bin/ramalama", "--nocontainer", "rm", "--", "m"])
    "'ramalama rm'"
    """
    sub = next((arg for arg in argv[1:] if arg in ("list", "rm")), "")
    return f"'ramalama {sub}'"
