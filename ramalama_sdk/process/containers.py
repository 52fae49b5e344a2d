"""Container mode's own failures and commands: the image and the engine.

Pure functions. In container mode ``ramalama serve`` can fail before the
model is ever looked at: the server image cannot be pulled, or the engine
answers ``info`` but cannot run a container. Each gets an error that names
it, never a model download failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Sequence
from typing import TypeVar

from ..errors import ContainerEngineError, ImagePullError, ServerStartError
from .steps import Step

_T = TypeVar("_T")

# ramalama 0.25: "Error: Failed to pull image IMAGE[ or IMAGE:latest][: detail]".
_PULL_FAILED = re.compile(r"Failed to pull image (\S+?)(?::\s|\s+or\s|$)")
# In router mode ramalama says nothing of its own: podman's last line is
# "Error: initializing source docker://IMAGE: ...".
_SOURCE_FAILED = re.compile(r"^Error: initializing source docker://(\S+?):\s", re.M)
# What podman/docker print before that, the reason worth showing.
_PULL_REASON = re.compile(
    r"registry \S+ is blocked|manifest unknown|unauthorized|not found|"
    r"connection refused|no such host|i/o timeout|name unknown|denied",
    re.I,
)
# The engine exists and answers, but creating or starting the container fails.
_ENGINE_FAILED = re.compile(
    r"OCI runtime|runc create failed|\bcrun: |OCI permission denied|"
    r"error during container init|conmon failed|netavark: |"
    r"Cannot connect to the Docker daemon",
    re.I,
)
_ERROR_PREFIX = re.compile(r"^\s*(?:Error|error):\s*")
# ``podman run`` and ``docker run`` exit with these for their own failures
# (125: the engine's, 126: the container's command could not be invoked,
# 127: not found), never with the server's own exit code, and ramalama
# passes them on: every engine failure, whether its text is known or not.
ENGINE_EXIT_CODES = frozenset({125, 126, 127})


def engine_of(command: Sequence[str]) -> str:
    """The engine a ramalama command line names, or ``container engine``.

    >>> engine_of(["ramalama", "--container", "--engine", "/usr/bin/podman", "serve"])
    'podman'
    >>> engine_of(["ramalama", "--container", "serve"])
    'the container engine'
    """
    args = list(command)
    if "--engine" in args and args.index("--engine") + 1 < len(args):
        return os.path.basename(args[args.index("--engine") + 1])
    return "the container engine"


def pull_failure(text: str) -> tuple[str, str] | None:
    """(image, reason) when the output says the server image was not pulled.

    >>> pull_failure("Error: initializing source docker://quay.io/r/r:0.25: registry "
    ...              "quay.io is blocked in /etc/containers/registries.conf\\n"
    ...              "Error: Failed to pull image quay.io/r/r:0.25 or quay.io/r/r:latest: x")
    ('quay.io/r/r:0.25', 'registry quay.io is blocked')
    >>> pull_failure("Error: Failed to pull image localhost/nosuch:1")
    ('localhost/nosuch:1', 'Failed to pull image localhost/nosuch:1')
    >>> pull_failure("Error: initializing source docker://localhost/x:1: pinging container "
    ...              "registry localhost: connection refused")
    ('localhost/x:1', 'connection refused')
    >>> pull_failure("Error: No such file") is None
    True
    """
    match = _PULL_FAILED.search(text)
    if match is None:
        source = _SOURCE_FAILED.search(text)
        if source is None:
            return None
        reasons = [m.group(0) for m in _PULL_REASON.finditer(text)]
        return source.group(1), reasons[-1] if reasons else _line_of(text, source.start())
    image = match.group(1)
    reasons = [m.group(0) for m in _PULL_REASON.finditer(text[: match.start()])]
    return image, reasons[-1] if reasons else _line_of(text, match.start())


def engine_failure(text: str, exit_code: int | None = None) -> str | None:
    """The engine's own error line, when it could not run the container.

    Known texts tell, and so does an exit code that only the engine uses.

    >>> engine_failure("Error: runc: runc create failed: unable to start container "
    ...                "process: OCI permission denied")
    'runc: runc create failed: unable to start container process: OCI permission denied'
    >>> engine_failure('Error: plugin type="bridge" failed (add): failed to find plugin', 126)
    'plugin type="bridge" failed (add): failed to find plugin'
    >>> engine_failure("llama-server exited") is None
    True
    >>> engine_failure("llama-server exited", 1) is None
    True
    """
    lines = text.splitlines()
    for line in reversed(lines):
        if _ENGINE_FAILED.search(line):
            return _ERROR_PREFIX.sub("", line.strip())
    if exit_code not in ENGINE_EXIT_CODES:
        return None
    said = [line for line in lines if _ERROR_PREFIX.match(line)]
    last = (said or [line for line in lines if line.strip()] or [""])[-1]
    return _ERROR_PREFIX.sub("", last.strip()) or f"exit code {exit_code}"


def start_error(
    model: str, command: Sequence[str], exit_code: int | None, log_tail: Sequence[str]
) -> ServerStartError | None:
    """The container-mode error for a ``ramalama serve`` that failed, if it is one."""
    text = "\n".join(log_tail)
    pulled = pull_failure(text)
    # An oci:// model is itself an image: its failure is the model's download.
    if pulled is not None and _names_model(pulled[0], model):
        return None
    if pulled is not None:
        image, reason = pulled
        return ImagePullError(
            image,
            reason,
            model=model,
            command=command,
            exit_code=exit_code,
            log_tail=log_tail,
        )
    engine_said = engine_failure(text, exit_code)
    if engine_said is not None:
        return ContainerEngineError(
            engine_of(command),
            engine_said,
            model=model,
            command=command,
            exit_code=exit_code,
            log_tail=log_tail,
        )
    return None


def _names_model(image: str, model: str) -> bool:
    """Whether ``image`` is the model itself (an ``oci://`` or similar model).

    >>> _names_model("quay.io/me/m:1", "oci://quay.io/me/m:1"), _names_model("x:1", "file:///m")
    (True, False)
    """
    reference = model.split("://", 1)[-1]
    return image == reference or image.split(":", 1)[0] == reference.split(":", 1)[0]


def _line_of(text: str, offset: int) -> str:
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return _ERROR_PREFIX.sub("", text[start : end if end >= 0 else len(text)].strip())


def container_only(steps: Generator[Step, object, _T]) -> Generator[Step, object, _T]:
    """``steps`` whose image or engine failure does not suggest serving on the
    host (``container=False``): for a router, which runs in a container only."""
    try:
        return (yield from steps)
    except (ImagePullError, ContainerEngineError) as exc:
        raise exc.in_container_only() from None
