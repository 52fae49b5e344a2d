"""Deployment files for a model: Kubernetes, podman quadlets, Docker Compose.

``ramalama serve --generate KIND`` writes the files that run the same server
elsewhere, with the model's options, instead of serving. It needs no running
container engine: the engine is named with ``--engine`` (podman for kube and
quadlet files, docker for compose); ramalama runs ``ENGINE inspect IMAGE``
once and carries on whatever the answer (no engine, or a client without a
daemon, fails at once), and a timeout bounds an engine that hangs.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import commands
from .commands import Mode
from .errors import GenerateError, GenerateTimeoutError, ModelNotFoundError, RamalamaError
from .options import ModelOptions
from .process import engine, failures
from .process.supervisor import LogFile, spawn, stop_group

KINDS = ("kube", "quadlet", "kube/quadlet", "compose")
"""What ``generate()`` writes; ``quadlet/kube``, ramalama's spelling, works too."""

DEFAULT_PORT = 8080
"""The port of a deployment whose model has no ``port`` (ramalama's default)."""

TIMEOUT = 600.0
"""Seconds ``generate()`` may take; it includes pulling a model not yet stored."""

_RAMALAMA_KIND = {
    "kube": "kube",
    "quadlet": "quadlet",
    "kube/quadlet": "quadlet/kube",
    "quadlet/kube": "quadlet/kube",
    "compose": "compose",
}
_ENGINE = {"kube": "podman", "quadlet": "podman", "quadlet/kube": "podman", "compose": "docker"}
_WROTE = re.compile(r"^Generating .* file: (?P<name>\S+)\s*$", re.M)
_COMMAND = re.compile(r"^(?P<indent>    )command: (?P<value>.*\S)\s*$")
_HOST_MODEL = re.compile(r"- hostPath:\s*\n\s*path:\s*(?P<path>\S+)\s*\n\s*name:\s*model\b")


class LocalModelWarning(UserWarning):
    """A Kubernetes manifest mounts the model from this machine's disk.

    A cluster node has no such file: serve the model from an OCI image
    (``ramalama push`` it to a registry, generate from ``oci://...``).
    """


def ramalama_kind(kind: object) -> str:
    """ramalama's name for ``kind``, or TypeError/ValueError.

    >>> ramalama_kind("kube/quadlet"), ramalama_kind("compose")
    ('quadlet/kube', 'compose')
    >>> ramalama_kind("helm")
    Traceback (most recent call last):
    ...
    ValueError: kind must be one of 'kube', 'quadlet', 'kube/quadlet', 'compose', not 'helm'
    """
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a str, not {type(kind).__name__}")
    if kind not in _RAMALAMA_KIND:
        choices = ", ".join(repr(k) for k in KINDS)
        raise ValueError(f"kind must be one of {choices}, not {kind!r}")
    return _RAMALAMA_KIND[kind]


def deployment_name(model: str) -> str:
    """A name for the deployment, its container and its files, from the model.

    Valid as a Kubernetes object name (and service name) and a container
    name: lower case letters, digits and dashes, at most 63 characters.

    >>> deployment_name("file:///models/Tiny-Llama.Q4_K_M.gguf")
    'tiny-llama-q4-k-m'
    >>> deployment_name("hf://TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF")
    'tinyllama-1-1b-chat-v1-0-gguf'
    >>> deployment_name("oci://quay.io/org/granite:2b"), deployment_name("gemma3:1b")
    ('granite-2b', 'gemma3-1b')
    >>> deployment_name("hf://org/7b"), deployment_name("file:///m/+++.gguf")
    ('model-7b', 'ramalama')
    """
    ref = model.split("://", 1)[-1].rstrip("/")
    last = ref.rsplit("/", 1)[-1]
    last = re.sub(r"\.gguf$", "", last, flags=re.I)
    name = re.sub(r"[^a-z0-9]+", "-", last.lower()).strip("-")
    if not name:
        return "ramalama"
    if not name[0].isalpha():
        name = f"model-{name}"
    return name[:63].rstrip("-")


def local_model_paths(manifest: str) -> list[str]:
    """Host paths a Kubernetes manifest of ramalama mounts as the model.

    ramalama mounts an OCI model as an image volume, which a cluster pulls,
    and any other model (``file://``, ``hf://``, a shortname) from its local
    store through ``hostPath``, which exists only on this machine.

    >>> local_model_paths('''
    ...       - hostPath:
    ...           path: /store/blobs/sha256-1
    ...         name: model
    ...       - image:
    ...           reference: quay.io/m:1
    ...         name: model-draft''')
    ['/store/blobs/sha256-1']
    """
    return [match.group("path") for match in _HOST_MODEL.finditer(manifest)]


def quote_compose_command(text: str) -> str:
    """A compose file with its ``command:`` quoted, so that YAML can read it.

    ramalama 0.25 writes the server command bare, and its ``--host ::``
    makes the file invalid YAML (``docker compose`` refuses it); a JSON
    string is a YAML double-quoted string with the same value.

    >>> print(quote_compose_command("services:\\n  m:\\n    command: srv --host :: -p 1"))
    services:
      m:
        command: "srv --host :: -p 1"
    """
    lines = text.split("\n")
    for index, line in enumerate(lines):
        match = _COMMAND.match(line)
        if match and not match.group("value").startswith(('"', "'", "[")):
            lines[index] = f"{match.group('indent')}command: {json.dumps(match.group('value'))}"
    return "\n".join(lines)


def generate(
    options: ModelOptions,
    kind: str,
    directory: str | os.PathLike[str],
    *,
    name: str | None = None,
    timeout: float = TIMEOUT,
) -> list[Path]:
    """Write the deployment files of ``kind`` for a model into ``directory``.

        options = ModelOptions(model="oci://quay.io/me/granite:2b", port=8080)
        generate(options, "kube", "deploy")   # [PosixPath('/abs/deploy/granite-2b.yaml')]

    ``kind`` is ``"kube"`` (a Deployment), ``"quadlet"`` (a podman
    ``.container`` unit), ``"kube/quadlet"`` (the Deployment and a ``.kube``
    unit that runs it) or ``"compose"`` (``docker-compose.yaml``). The
    server gets the model's port (8080 when it has none), host (where
    quadlet and compose publish the port), image (by default ramalama's
    choice for this machine's GPU), runtime and sampling options. ``name``
    (by default derived from the model, see ``deployment_name``) names the
    container and the files. A model not yet in ramalama's store is pulled
    first. Files of the same names are overwritten. Returns the files
    written (absolute paths).

    Raises TypeError/ValueError for a bad ``kind``, ``name`` or ``timeout``,
    or a runtime ramalama cannot deploy (mlx), before anything runs;
    ModelNotFoundError or DownloadError when the model cannot be pulled;
    GenerateError (GenerateTimeoutError) when ramalama fails (times out).
    Warns LocalModelWarning when a Kubernetes manifest mounts the model
    from this machine's disk.
    """
    generate_kind = ramalama_kind(kind)
    if options.runtime == "mlx":
        raise ValueError("runtime='mlx' runs on the host only; ramalama cannot deploy it")
    if name is None:
        name = deployment_name(options.model)
    elif not isinstance(name, str) or not re.fullmatch(r"[a-z]([a-z0-9-]{0,61}[a-z0-9])?", name):
        raise ValueError(
            f"name must be lower case letters, digits and dashes (at most 63), not {name!r}"
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    folder = Path(directory).absolute()
    ramalama = engine.find_ramalama()
    mode = Mode(container=True, engine=_ENGINE[generate_kind])
    argv = commands.serve_argv(
        ramalama,
        options,
        mode,
        port=options.port if options.port is not None else DEFAULT_PORT,
        cpu_count=1,  # unused: in a container ramalama chooses the threads
        name=name,
        # KIND:DIR, split by ramalama at the first colon: any path fits.
        generate=f"{generate_kind}:{folder}",
    )
    folder.mkdir(parents=True, exist_ok=True)
    before = _snapshot(folder)
    code, output = _run(argv, timeout, options.model, kind)
    if code != 0:
        raise _failure(options.model, kind, argv, code, output, folder)
    written = _written(folder, before, output)
    if generate_kind == "compose":
        for path in written:
            text = path.read_text(encoding="utf-8")
            path.write_text(quote_compose_command(text), encoding="utf-8")
    if generate_kind == "kube":
        _warn_local_model(written)
    return written


def _run(argv: Sequence[str], timeout: float, model: str, kind: str) -> tuple[int, str]:
    """Run ramalama; its exit code and output (stdout and stderr together)."""
    log = LogFile(prefix="ramalama-sdk-generate-")
    try:
        future = spawn(argv, env=engine.child_env(), stdout=log.handle, stderr=log.handle)
        try:
            popen = future.result()
        except OSError as exc:
            raise GenerateError(
                f"could not run ramalama: {exc}", model=model, kind=kind, command=argv
            ) from None
        try:
            code = popen.wait(timeout)
        except subprocess.TimeoutExpired:
            stop_group(popen)
            output = "\n".join(log.tail(30))
            raise GenerateTimeoutError(
                f"generating {kind!r} files for {model!r} took more than {timeout:g} s "
                f"and was stopped\n--- ramalama's output ---\n{output}",
                model=model,
                kind=kind,
                command=argv,
                output=output,
            ) from None
        except BaseException:
            stop_group(popen)  # interrupted: leave nothing running
            raise
        return code, "\n".join(log.tail(200))
    finally:
        log.close()


def _snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Each file's identity, size and modification time, by name."""
    files = {}
    for entry in folder.iterdir():
        if entry.is_file():
            stat = entry.stat()
            files[entry.name] = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    return files


def _written(folder: Path, before: dict[str, tuple[int, int, int]], output: str) -> list[Path]:
    """The files ramalama said it wrote, then any other file it changed."""
    named = [m.group("name") for m in _WROTE.finditer(output)]
    after = _snapshot(folder)
    changed = sorted(n for n, stat in after.items() if before.get(n) != stat)
    ordered = [n for n in dict.fromkeys([*named, *changed]) if n in after]
    return [folder / n for n in ordered]


def _warn_local_model(files: Sequence[Path]) -> None:
    for path in files:
        if path.suffix not in (".yaml", ".yml"):
            continue
        host_paths = local_model_paths(path.read_text(encoding="utf-8", errors="replace"))
        if host_paths:
            warnings.warn(
                f"{path.name} mounts the model from this machine ({host_paths[0]}), "
                "which a cluster node does not have: push the model to an OCI "
                "registry ('ramalama push') and generate from 'oci://REGISTRY/NAME:TAG'",
                LocalModelWarning,
                stacklevel=_caller_level(),
            )


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside
    this package (the model methods call generate() on the user's behalf)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame = inspect.currentframe()
    level = 0  # this function; warnings.warn() is called by its caller
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame = frame.f_back
        level += 1
    return max(level, 1)


def _failure(
    model: str, kind: str, argv: Sequence[str], code: int, output: str, folder: Path
) -> RamalamaError:
    said = failures.error_line(output) or "ramalama printed nothing"
    if str(folder) not in said:  # not a failure to write the files
        pull = failures.download_error(model, argv, code, output)
        if isinstance(pull, ModelNotFoundError) or said.startswith("Failed to pull"):
            return pull  # ramalama pulls a missing model first: that failure is a download's
    tail = "\n".join(output.splitlines()[-20:])
    return GenerateError(
        f"generating {kind!r} files for {model!r} failed: {said} (exit code {code})\n"
        f"--- ramalama's output ---\n{tail}",
        model=model,
        kind=kind,
        command=argv,
        exit_code=code,
        output=output,
    )
