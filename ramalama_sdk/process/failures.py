"""What went wrong, read from ramalama's and llama-server's own words.

Pure functions from (exit code, output) to the exception a user can act on.
The texts matched are those ramalama 0.25 and llama-server print; anything
unrecognised still gives an error carrying the exit code and the log tail.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import DownloadError, ModelNotFoundError, RamalamaError, ServerStartError
from . import containers

_NOT_FOUND = (
    re.compile(r"No such file", re.I),
    re.compile(r"is not a known shortname", re.I),
    re.compile(r"\b404\b|Not Found", re.I),
    re.compile(r"Model '.*' not found", re.I),
    re.compile(r"Is a directory", re.I),
    re.compile(r"does not exist", re.I),
    re.compile(r"manifest unknown", re.I),
)
_NETWORK = re.compile(
    r"Name or service not known|Temporary failure in name resolution|"
    r"Network is unreachable|Connection refused|urlopen error|timed out",
    re.I,
)
_NO_LLAMA_SERVER = re.compile(r'requires the "llama-server" command', re.I)
_BAD_MODEL = re.compile(
    r"invalid magic|model is corrupted|failed to load model|error loading model|"
    r"exiting due to model loading error|unknown model architecture",
    re.I,
)
_PORT = re.compile(r"couldn't bind HTTP server socket|address already in use", re.I)
_ERROR_LINE = re.compile(r"^(Error|error):\s*(.*)$")


def error_line(output: str) -> str:
    """The last ``Error: ...`` line ramalama printed, or the last line at all.

    >>> error_line("Removing snapshot...\\nError: No such file: '/m.gguf\\n")
    "No such file: '/m.gguf"
    """
    explicit = _explicit_error(output)
    if explicit is not None:
        return explicit
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _explicit_error(output: str) -> str | None:
    for line in reversed(output.splitlines()):
        match = _ERROR_LINE.match(line.strip())
        if match:
            return match.group(2)
    return None


def download_error(
    model: str, command: Sequence[str], exit_code: int, output: str
) -> DownloadError:
    """The error for a failed ``ramalama pull``."""
    said = error_line(output) or "ramalama printed nothing"
    said = f"{said} (exit code {exit_code})"
    if any(pattern.search(said) for pattern in _NOT_FOUND):
        return ModelNotFoundError(
            f"model {model!r} not found: {said}",
            model=model,
            command=command,
            exit_code=exit_code,
            output=output,
        )
    if _NETWORK.search(said):
        return DownloadError(
            f"could not download {model!r} (no network, or the registry did "
            f"not answer; a local file needs 'file:///absolute/path'): {said}",
            model=model,
            command=command,
            exit_code=exit_code,
            output=output,
        )
    return DownloadError(
        f"could not download {model!r}: {said}",
        model=model,
        command=command,
        exit_code=exit_code,
        output=output,
    )


def is_port_clash(log_tail: Sequence[str]) -> bool:
    """Whether the server died because its port was taken."""
    return any(_PORT.search(line) for line in log_tail)


def start_error(
    model: str,
    command: Sequence[str],
    exit_code: int | None,
    log_tail: Sequence[str],
    *,
    port: int,
) -> RamalamaError:
    """The error for a ``ramalama serve`` that exited before it was ready."""
    text = "\n".join(log_tail)
    if _NO_LLAMA_SERVER.search(text):
        reason = (
            "the 'llama-server' command is not installed (ramalama needs it "
            "on PATH when it runs without a container engine)"
        )
    elif _BAD_MODEL.search(text):
        reason = "the model file could not be loaded: it is corrupt, truncated or not a GGUF model"
    elif is_port_clash(log_tail):
        reason = f"port {port} is already in use"
    else:
        # Container mode: the image or the engine, never a model download.
        in_container = containers.start_error(model, command, exit_code, log_tail)
        if in_container is not None and "--container" in command:
            return in_container
        said = _explicit_error(text)
        if said is not None:
            pull = download_error(model, command, exit_code or 0, text)
            # serve pulls a missing model itself: that failure is a download's.
            if isinstance(pull, ModelNotFoundError) or said.startswith("Failed to pull"):
                return pull
        reason = said or error_line(text) or "the server exited"
    return ServerStartError(
        reason, model=model, command=command, exit_code=exit_code, log_tail=log_tail
    )
