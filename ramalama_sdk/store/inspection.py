"""``inspect(model)``: what a model in the store is, without serving it.

Runs ``ramalama inspect --all --json`` and reads the GGUF's metadata and
tensor list into the same ``ModelDetails`` that ``model.info()`` returns for
a served model; the facts only a server knows (its context, slots, build)
are None.
"""

from __future__ import annotations

import os
import re

from .. import commands
from ..endpoints.info import ModelDetails, stored_details
from ..errors import ModelNotFoundError, RamalamaError
from ..process import engine, failures
from .management import _run, stored_name

_NOT_PULLED = re.compile(r"No ref file found|not found|No such file", re.I)


def inspect_argv(
    ramalama: str, model: str, mode: commands.Mode, *, everything: bool = True
) -> list[str]:
    """``ramalama inspect --all --json MODEL`` (without ``--all``: the stored
    file's path and a summary).

    >>> inspect_argv("ramalama", "tinyllama", commands.Mode(container=False))
    ['ramalama', '--nocontainer', 'inspect', '--all', '--json', '--', 'tinyllama']
    """
    wanted = ["--all", "--json"] if everything else ["--json"]
    return [ramalama, *commands.global_flags(mode), "inspect", *wanted, "--", model]


def inspect(model: str | os.PathLike[str], *, container: bool | None = None) -> ModelDetails:
    """What ``model`` is (training context, parameters, size, template), offline.

        details = inspect("file:///models/tiny.gguf")
        print(details.training_context, details.parameters, details.has_chat_template)

    The model must be in the store (``download()`` or ``ramalama pull``):
    otherwise ModelNotFoundError (also a LookupError). ``vision`` says
    whether ramalama stored a vision projector with it. ``container`` is
    decided as for a model. A path (str or ``Path``) names a local file, as
    it does for a model.
    """
    model = stored_name(model)
    argv = inspect_argv(engine.find_ramalama(), model, engine.decide_mode(container))
    done = _run(argv)
    output = done.stderr + done.stdout
    if done.returncode != 0:
        said = failures.error_line(output) or "ramalama printed nothing"
        if _NOT_PULLED.search(said):
            raise ModelNotFoundError(
                f"model {model!r} is not in the store (download() it first): {said}",
                model=model,
                command=argv,
                exit_code=done.returncode,
                output=output,
            )
        raise RamalamaError(
            f"'ramalama inspect' of {model!r} failed: {said} (exit code {done.returncode})"
        )
    try:
        return stored_details(model, done.stdout)
    except RamalamaError as exc:
        raise RamalamaError(f"'ramalama inspect' gave an unexpected answer: {exc}") from None
