"""Deployment files for a model: Kubernetes, podman quadlets, Docker Compose.

``ramalama serve --generate KIND`` writes the files that run the same server
elsewhere, with the model's options, instead of serving. It needs no running
container engine: the engine is named with ``--engine`` (podman for kube and
quadlet files, docker for compose); ramalama runs ``ENGINE inspect IMAGE``
once and carries on whatever the answer (no engine, or a client without a
daemon, fails at once), and a timeout bounds an engine that hangs.

ramalama writes into a private temporary folder. What it wrote there is
repaired (``deploy_files``: the host, the key, YAML it cannot read) and only
then placed in the user's folder, each file under a new name renamed over
the old: no other file of that folder is read or changed, and a symbolic
link under an output name is replaced, not followed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import secrets
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import caller, commands, deploy_files
from .commands import API_KEY_ENVS, Mode
from .deploy_files import local_model_paths as local_model_paths
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


class NoKeyWarning(UserWarning):
    """Deployment files serve on an address other machines reach, with no API key.

    ``api_key=False`` asked for no key; keep such a server on loopback, or
    give it a key.
    """


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
    server gets the model's port (8080 when it has none), image (by default
    ramalama's choice for this machine's GPU), runtime and sampling
    options; every file publishes the port on the model's ``host``
    (loopback unless told otherwise). ``name`` (by default derived from the
    model, see ``deployment_name``) names the container and the files. A
    model not yet in ramalama's store is pulled first.

    The server checks an API key: the model's ``api_key``, or a new random
    one when it is None or True (``api_key=False``: none). The manifest
    gives it to the server in its environment; a ``.container`` unit and a
    compose file read it from ``NAME.env`` beside them. Every file that
    holds the key is written with mode 0600.

    Files of the same names are replaced (a symbolic link under such a name
    is replaced, never followed); nothing else in ``directory`` is touched.
    Returns the files written (absolute paths), the key file last.

    Raises TypeError/ValueError for a bad ``kind``, ``name``, ``timeout``,
    key, a host a manifest cannot publish on, or a runtime ramalama cannot
    deploy (mlx), before anything runs; ModelNotFoundError or DownloadError
    when the model cannot be pulled; GenerateError (GenerateTimeoutError)
    when ramalama fails (times out) or a file cannot be written. Warns
    LocalModelWarning when a Kubernetes manifest mounts the model from this
    machine's disk, and NoKeyWarning when a server reachable from other
    machines has no key.
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
    if generate_kind in ("kube", "quadlet/kube"):
        deploy_files.check_kube_host(options.host)
    key_env = API_KEY_ENVS[options.runtime]
    port = options.port if options.port is not None else DEFAULT_PORT
    settings = deploy_files.Settings(
        name=name,
        host=options.host,
        port=port,
        key_env=key_env,
        key=deploy_files.deployment_key(options.api_key) if key_env else None,
    )
    folder = Path(directory).absolute()
    ramalama = engine.find_ramalama()
    mode = Mode(container=True, engine=_ENGINE[generate_kind])
    # ramalama writes into a private folder; only what it wrote there is
    # then moved into ``folder``, so nothing else there is read or changed.
    with tempfile.TemporaryDirectory(prefix="ramalama-sdk-generate-") as scratch:
        argv = commands.serve_argv(
            ramalama,
            options,
            mode,
            port=port,
            cpu_count=1,  # unused: in a container ramalama chooses the threads
            name=name,
            # KIND:DIR, split by ramalama at the first colon: any path fits.
            generate=f"{generate_kind}:{scratch}",
        )
        code, output = _run(argv, timeout, options.model, kind)
        if code != 0:
            raise _failure(options.model, kind, argv, code, output, scratch)
        made = _read_made(Path(scratch), output, options.model, kind, argv)
    files = deploy_files.rewrite(generate_kind, made, settings)
    written = _write_all(folder, files, options.model, kind, argv)
    if generate_kind == "kube":
        _warn_local_model({path.name: files[path.name].text for path in written})
    if settings.key is None and not _is_loopback(options.host):
        warnings.warn(
            f"the {kind!r} files for {options.model!r} serve on {options.host} "
            "without an API key: anyone who reaches that address can use the server",
            NoKeyWarning,
            stacklevel=caller.stacklevel(),
        )
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


def _read_made(
    scratch: Path, output: str, model: str, kind: str, argv: Sequence[str]
) -> dict[str, str]:
    """The files ramalama wrote into ``scratch``, by name, in the order it named them."""
    named = [m.group("name") for m in _WROTE.finditer(output)]
    present = sorted(entry.name for entry in scratch.iterdir() if entry.is_file())
    made = {}
    for file_name in dict.fromkeys([*named, *present]):
        if file_name not in present:
            continue
        try:
            made[file_name] = (scratch / file_name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise GenerateError(
                f"ramalama wrote {file_name!r} for {model!r}, which is not UTF-8 text",
                model=model,
                kind=kind,
                command=argv,
                exit_code=0,
                output=output,
            ) from None
    return made


def _write_all(
    folder: Path,
    files: dict[str, deploy_files.File],
    model: str,
    kind: str,
    argv: Sequence[str],
) -> list[Path]:
    """Write ``files`` into ``folder``: each to a new temporary name, then renamed.

    The temporary file is created (``O_EXCL | O_NOFOLLOW``, so never through
    a link) with its final mode, and the rename replaces whatever had the
    name, a symbolic link included, without following it.
    """
    temps: dict[str, str] = {}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for file_name, file in files.items():
            temp = str(folder / f".{file_name}.{secrets.token_hex(6)}.part")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            descriptor = os.open(temp, flags, deploy_files.KEY_MODE if file.secret else 0o666)
            temps[file_name] = temp
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(file.text)
        for file_name in files:
            os.replace(temps[file_name], folder / file_name)
            del temps[file_name]
    except OSError as exc:
        raise GenerateError(
            f"could not write the {kind!r} files for {model!r} into {folder}: {exc}",
            model=model,
            kind=kind,
            command=argv,
        ) from None
    finally:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                os.unlink(temp)
    return [folder / file_name for file_name in files]


def _is_loopback(host: str) -> bool:
    if host.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _warn_local_model(files: dict[str, str]) -> None:
    for file_name, text in files.items():
        if not file_name.endswith((".yaml", ".yml")):
            continue
        host_paths = local_model_paths(text)
        if host_paths:
            warnings.warn(
                f"{file_name} mounts the model from this machine ({host_paths[0]}), "
                "which a cluster node does not have: push the model to an OCI "
                "registry ('ramalama push') and generate from 'oci://REGISTRY/NAME:TAG'",
                LocalModelWarning,
                stacklevel=caller.stacklevel(),
            )


def _failure(
    model: str, kind: str, argv: Sequence[str], code: int, output: str, folder: str
) -> RamalamaError:
    said = failures.error_line(output) or "ramalama printed nothing"
    if _ENGINE[ramalama_kind(kind)] == "docker" and _asks_docker(model, said):
        return GenerateError(
            f"generating {kind!r} files for {model!r} failed: ramalama asks the docker "
            "client about an image model to write a compose file, and docker does not "
            "answer here (not installed, or no daemon running: 'docker info' fails); "
            f"ramalama said: {said} (exit code {code})",
            model=model,
            kind=kind,
            command=argv,
            exit_code=code,
            output=output,
        )
    if folder not in said:  # not a failure to write the files
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


def _asks_docker(model: str, said: str) -> bool:
    """Whether ramalama failed to find an image model because docker does not answer.

    ramalama 0.25 asks the engine whether an ``oci://`` (``docker://``)
    reference is an image or an artifact, and reads no answer as "does not
    exist".
    """
    if not model.startswith(("oci://", "docker://")) or "does not exist" not in said:
        return False
    return not engine.engine_answers("docker")
