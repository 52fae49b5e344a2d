"""Container mode: the server image is part of ``download()``.

ramalama pulls its server image inside ``serve``, where a first pull of a
large image would count against the readiness timeout. So in container mode
``download()`` first makes sure the image is present: it asks ramalama which
image it would use (``ramalama info``) unless ``base_image`` says, asks the
engine whether that image exists, and pulls it only if not. A failed pull is
an ImagePullError naming the image, never a model download failure.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Generator

from .. import commands
from ..commands import Mode
from ..errors import ImagePullError, RamalamaError
from ..options import DEFAULT_RUNTIME, ModelOptions
from . import engine
from .command_steps import run_to_end
from .containers import pull_failure
from .steps import Step


def info_argv(ramalama: str, mode: Mode, runtime: str) -> list[str]:
    """``ramalama info``, which names the image ramalama would serve with.

    >>> info_argv("ramalama", Mode(True, "podman"), "llama.cpp")
    ['ramalama', '--container', '--engine', 'podman', 'info']
    >>> info_argv("ramalama", Mode(True), "vllm")
    ['ramalama', '--container', '--runtime', 'vllm', 'info']
    """
    runtime_flags = ["--runtime", runtime] if runtime != DEFAULT_RUNTIME else []
    return [ramalama, *commands.global_flags(mode), *runtime_flags, "info"]


def image_of(info_output: str) -> str | None:
    """The ``Image`` that ``ramalama info`` reports.

    >>> image_of('{"Engine": {"Name": "podman"}, "Image": "quay.io/ramalama/ramalama:0.25"}')
    'quay.io/ramalama/ramalama:0.25'
    >>> image_of("not json") is None
    True
    """
    try:
        image = json.loads(info_output).get("Image")
    except (ValueError, AttributeError):
        return None
    return image if isinstance(image, str) and image else None


def exists_argv(engine_path: str, image: str) -> list[str]:
    """The command that exits 0 when ``image`` is present (podman and docker).

    >>> exists_argv("podman", "localhost/x:1")
    ['podman', 'image', 'inspect', '--format', '{{.Id}}', 'localhost/x:1']
    """
    return [engine_path, "image", "inspect", "--format", "{{.Id}}", image]


def pull_argv(engine_path: str, image: str) -> list[str]:
    """``ENGINE pull IMAGE``.

    >>> pull_argv("podman", "quay.io/ramalama/ramalama:0.25")
    ['podman', 'pull', 'quay.io/ramalama/ramalama:0.25']
    """
    return [engine_path, "pull", image]


def image_steps(
    options: ModelOptions, mode: Mode, ramalama: str, env: dict[str, str]
) -> Generator[Step, object, str | None]:
    """Make sure the server image is present; return it (None: nothing to check)."""
    if not mode.container:
        return None
    executable = shutil.which(mode.engine or "podman", path=engine.child_path(env))
    if executable is None:
        return None  # no engine to ask: ramalama reports that itself
    image = options.base_image
    if image is None:
        info = info_argv(ramalama, mode, options.runtime)
        code, tail = yield from run_to_end(info, env, lines=100_000)  # all of the JSON
        output = "\n".join(tail)
        image = image_of(output) if code == 0 else None
        if image is None:
            raise RamalamaError(f"'ramalama info' did not name a server image: {output[-300:]}")
    code, _ = yield from run_to_end(exists_argv(executable, image), env)
    if code == 0:
        return image
    code, tail = yield from run_to_end(pull_argv(executable, image), env)
    if code != 0:
        output = "\n".join(tail)
        found = pull_failure(f"{output}\nFailed to pull image {image}")
        reason = found[1] if found is not None else "the engine could not pull it"
        raise ImagePullError(
            image,
            reason,
            model=options.model,
            command=pull_argv(executable, image),
            exit_code=code,
            log_tail=tail[-10:],
        )
    return image


def with_image(
    options: ModelOptions,
    mode: Mode,
    ramalama: str,
    env: dict[str, str],
    then: Generator[Step, object, None],
) -> Generator[Step, object, None]:
    """The image's steps, then ``then`` (the model's pull)."""
    try:
        yield from image_steps(options, mode, ramalama, env)
    except BaseException:
        then.close()
        raise
    yield from then
