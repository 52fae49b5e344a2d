"""What the user names as a model, as ramalama should be told it (pure but for
one ``stat``).

ramalama takes a bare path for a Hugging Face repository name and looks it
up on the network; only ``file:///absolute/path`` is a local file. A path
the user gives (a ``Path``, or a str naming an existing file) is sent as a
``file://`` URI of its absolute path, relative paths included.
"""

from __future__ import annotations

import os
from pathlib import Path


def model_reference(model: object) -> object:
    """``model`` as ramalama should read it; anything but a path is left as is
    (and checked by ModelOptions).

    >>> model_reference("tinyllama"), model_reference("hf://org/repo")
    ('tinyllama', 'hf://org/repo')
    >>> model_reference(Path("/models/m.gguf"))
    'file:///models/m.gguf'
    """
    if isinstance(model, os.PathLike):
        path = os.fspath(model)
        if isinstance(path, bytes):
            raise TypeError("model must be a str or a str path, not a bytes path")
        return Path(path).expanduser().absolute().as_uri()
    if isinstance(model, str) and "://" not in model and _names_a_file(model):
        return Path(model).expanduser().absolute().as_uri()
    return model


def _names_a_file(text: str) -> bool:
    # A shortname ("tinyllama") that happens to be a file in the current
    # directory stays a shortname: only what reads as a path is a path.
    if "\0" in text or not (os.sep in text or text.endswith(".gguf") or text.startswith("~")):
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):
        return False
