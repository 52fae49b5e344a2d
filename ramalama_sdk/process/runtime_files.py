"""Files named in ``runtime_args`` (adapters, projectors, drafts): do they exist?

llama-server reports a missing ``--lora`` or ``--mmproj`` file as a model
that failed to load, which reads like a corrupt model. On the host, the
files are checked before anything runs, and the error names the file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# llama-server options whose value is a file path (comma-separated for --lora).
_FILE_OPTIONS = {
    "--lora": True,
    "--mmproj": False,
    "-mm": False,
    "--model-draft": False,
    "--spec-draft-model": False,
    "-md": False,
    "--control-vector": False,
    "--grammar-file": False,
    "--chat-template-file": False,
}


def missing_files(runtime_args: Sequence[str]) -> list[tuple[str, str]]:
    """(option, path) for every file option whose file does not exist.

    >>> missing_files(["--parallel", "4", "--lora", "/no/such.gguf"])
    [('--lora', '/no/such.gguf')]
    >>> missing_files(["--mmproj=/no/proj.gguf"])
    [('--mmproj', '/no/proj.gguf')]
    """
    missing: list[tuple[str, str]] = []
    args = list(runtime_args)
    for index, arg in enumerate(args):
        option, equals, value = arg.partition("=")
        if option not in _FILE_OPTIONS:
            continue
        if not equals:
            if index + 1 >= len(args):
                continue
            value = args[index + 1]
        paths = value.split(",") if _FILE_OPTIONS[option] else [value]
        missing.extend((option, path) for path in paths if path and not os.path.exists(path))
    return missing
