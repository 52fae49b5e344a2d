"""What the user names as a model, as ramalama should be told it (pure but for
a ``stat``).

ramalama takes a bare path for a Hugging Face repository name and looks it
up on the network; only ``file:///absolute/path`` is a local file. A path
the user gives (a ``Path``, or a str naming an existing file) is sent as a
``file://`` URI of its absolute path, relative paths included. A str that
can only be a path (``/...``, ``./...``, ``~/...``, ``m.gguf``) but names no
file is a ModelNotFoundError here, not a Hugging Face request.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelNotFoundError


def model_reference(model: object, *, must_exist: bool = True) -> object:
    """``model`` as ramalama should read it; anything but a path is left as is
    (and checked by ModelOptions).

    ``must_exist=False`` (removing or inspecting a stored copy) turns a path
    into its ``file://`` URI even when the file is gone.

    >>> model_reference("tinyllama"), model_reference("hf://org/repo")
    ('tinyllama', 'hf://org/repo')
    >>> model_reference(Path("/models/m.gguf"), must_exist=False)
    'file:///models/m.gguf'
    >>> model_reference("./no-such-model.gguf")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ramalama_sdk.errors.ModelNotFoundError: the model file './no-such-model.gguf' does not exist ...
    """
    if isinstance(model, os.PathLike):
        path = os.fspath(model)
        if isinstance(path, bytes):
            raise TypeError("model must be a str or a str path, not a bytes path")
        return _file_uri(path, must_exist)
    is_name = isinstance(model, str) and "://" not in model and "\0" not in model
    if is_name and (_names_a_file(str(model)) or _reads_as_path(str(model))):
        return _file_uri(str(model), must_exist)
    return model


def _file_uri(path: str, must_exist: bool) -> str:
    local = Path(path).expanduser().absolute()
    if must_exist:
        try:
            is_dir, exists = local.is_dir(), local.exists()
        except (OSError, ValueError):
            is_dir, exists = False, False
        if is_dir:
            raise ModelNotFoundError(
                f"the model {path!r} is a directory ({local}): name the model file in it",
                model=path,
            )
        if not exists:
            raise ModelNotFoundError(
                f"the model file {path!r} does not exist ({local}); a Hugging Face "
                "model is written hf://org/repo",
                model=path,
            )
    return local.as_uri()


def _names_a_file(text: str) -> bool:
    # A shortname ("tinyllama") that happens to be a file in the current
    # directory stays a shortname: only what reads as a path is a path.
    if not (os.sep in text or text.endswith(".gguf") or text.startswith("~")):
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):
        return False


def _reads_as_path(text: str) -> bool:
    """Whether ``text`` can only mean a local path, existing or not.

    ``org/repo`` and ``org/repo/file.gguf`` are Hugging Face names to
    ramalama; ``/abs``, ``./rel``, ``../rel``, ``~/m``, ``m.gguf``,
    ``dir/m.gguf`` and a path whose folder exists here are not.
    """
    if text.startswith(("/", "./", "../", "~")) or text in (".", ".."):
        return True
    if text.endswith(".gguf") and text.count("/") < 2:
        return True
    parent = os.path.dirname(text)
    try:
        return bool(parent) and os.path.isdir(parent)
    except (OSError, ValueError):
        return False
