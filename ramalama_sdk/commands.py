"""Options -> argv for ``ramalama pull|serve|stop|list|rm``.

Pure functions: no I/O, no environment look-ups. Every command line is a list
of separate argv items (never a shell string), and the model name always
follows ``--`` so that a name such as ``--help`` stays a name.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from .options import DEFAULT_RUNTIME, DEFAULT_TEMP, ModelOptions

# Where a container sees the prompt_cache folder (its llama-server's --slot-save-path).
PROMPT_CACHE_MOUNT = "/mnt/ramalama-sdk-prompts"

# The serve options each runtime takes, as ramalama 0.25 builds its command:
# the vllm and mlx serve parsers reject --temp, --ngl, --threads and --webui
# (an argparse error), vllm's command drops --max-tokens and mlx's drops
# --ctx-size. An option a runtime does not take is left out of the argv.
_TAKES: dict[str, frozenset[str]] = {
    "llama.cpp": frozenset(
        {"temp", "ngl", "max_tokens", "ctx_size", "threads", "webui", "thinking", "speculation"}
    ),
    "vllm": frozenset({"ctx_size"}),  # ramalama passes it as --max-model-len
    "mlx": frozenset({"temp", "max_tokens"}),
}


@dataclass(frozen=True)
class Mode:
    """How ramalama is to run: in a container engine or on the host.

    ``engine`` names the container engine (``podman``/``docker``) to pass as
    ``--engine``; None lets ramalama choose.
    """

    container: bool
    engine: str | None = None


# Where each runtime's server reads its API key; mlx_lm's server has none.
API_KEY_ENVS: dict[str, str | None] = {
    "llama.cpp": "LLAMA_API_KEY",
    "vllm": "VLLM_API_KEY",
    "mlx": None,
}


def global_flags(mode: Mode) -> list[str]:
    """The flags that go before the subcommand.

    >>> global_flags(Mode(container=False))
    ['--nocontainer']
    >>> global_flags(Mode(container=True, engine="podman"))
    ['--container', '--engine', 'podman']
    """
    if not mode.container:
        return ["--nocontainer"]
    # Explicit: ramalama would otherwise still obey a RAMALAMA_CONTAINER=false
    # or ramalama.conf that the caller chose to override.
    return ["--container", *(["--engine", mode.engine] if mode.engine else [])]


def runtime_takes(runtime: str, option: str) -> bool:
    """Whether ramalama passes ``option`` on to the server of ``runtime``.

    >>> runtime_takes("llama.cpp", "threads"), runtime_takes("vllm", "temp")
    (True, False)
    """
    return option in _TAKES[runtime]


def runtime_mode(runtime: str, mode: Mode) -> Mode:
    """The mode ramalama really uses: mlx always runs on the host.

    >>> runtime_mode("mlx", Mode(True, "podman"))
    Mode(container=False, engine=None)
    """
    return Mode(container=False) if runtime == "mlx" else mode


def pull_argv(ramalama: str, model: str, mode: Mode) -> list[str]:
    """``ramalama pull MODEL``.

    >>> pull_argv("ramalama", "tinyllama", Mode(container=False))
    ['ramalama', '--nocontainer', 'pull', '--', 'tinyllama']
    """
    return [ramalama, *global_flags(mode), "pull", "--", model]


def serve_argv(
    ramalama: str,
    options: ModelOptions,
    mode: Mode,
    *,
    port: int,
    cpu_count: int,
    name: str | None = None,
    api_key_env: str | None = None,
    generate: str | None = None,
) -> list[str]:
    """``ramalama serve`` with the options that differ from ramalama's defaults.

    ``name`` is the container name (container mode only: ramalama rejects it
    with ``--nocontainer``). ``api_key_env`` names the environment variable
    that holds the server's API key: on the host llama-server inherits it; a
    container gets it by name (``--env NAME``), so the key is never in argv.
    ``threads=-1`` becomes ``cpu_count`` on the host, where ramalama would
    otherwise use 4 threads whatever the machine has; in a container
    ramalama's own choice stands. A runtime other than llama.cpp goes in as
    ``--runtime``, and the options it does not take are left out (see
    ``runtime_takes``); mlx always runs on the host. ``generate`` (container
    mode only) asks ramalama to write deployment files (``kube``,
    ``quadlet``, ``quadlet/kube``, ``compose``) instead of serving.
    ``prompt_cache`` becomes llama-server's ``--slot-save-path``; in a
    container the folder is bind-mounted (``--engine-args``), and a
    generated deployment leaves it out (the folder is on this machine).

    >>> serve_argv("ramalama", ModelOptions(model="m", temp=0), Mode(False),
    ...            port=8081, cpu_count=2)  # doctest: +NORMALIZE_WHITESPACE
    ['ramalama', '--nocontainer', 'serve', '--port', '8081', '--host', '127.0.0.1',
     '--webui', 'off', '--temp', '0', '--threads', '2', '--', 'm']
    >>> serve_argv("ramalama", ModelOptions(model="m", temp=0, runtime="vllm"),
    ...            Mode(False), port=8081, cpu_count=2)  # doctest: +NORMALIZE_WHITESPACE
    ['ramalama', '--nocontainer', '--runtime', 'vllm', 'serve', '--port', '8081',
     '--host', '127.0.0.1', '--', 'm']
    >>> serve_argv("ramalama", ModelOptions(model="m", prompt_cache="/p"),
    ...            Mode(True), port=8081, cpu_count=2)[-4:]  # doctest: +NORMALIZE_WHITESPACE
    ['--engine-args=--mount=type=bind,src=/p,destination=/mnt/ramalama-sdk-prompts',
     '--runtime-args=--slot-save-path /mnt/ramalama-sdk-prompts', '--', 'm']
    """
    runtime = options.runtime
    mode = runtime_mode(runtime, mode)
    if generate is not None and not mode.container:
        raise ValueError(f"ramalama generates {generate!r} files in container mode only")
    takes = _TAKES[runtime]
    argv = [ramalama, *global_flags(mode)]
    if runtime != DEFAULT_RUNTIME:
        argv += ["--runtime", runtime]
    argv.append("serve")
    # The host is always given: older ramalama releases bound 0.0.0.0.
    argv += ["--port", str(port), "--host", options.host]
    if "webui" in takes:
        argv += ["--webui", "off"]
    if mode.container:
        if generate is not None:
            argv += ["--generate", generate]
        if name is not None:
            argv += ["--name", name]
        if options.base_image is not None:
            argv += ["--image", options.base_image]
        if api_key_env is not None:
            argv += ["--env", api_key_env]
    if options.temp != DEFAULT_TEMP and "temp" in takes:
        argv += ["--temp", _number(options.temp)]
    if options.ngl != -1 and "ngl" in takes:
        argv += ["--ngl", str(options.ngl)]
    if options.max_tokens != 0 and "max_tokens" in takes:
        argv += ["--max-tokens", str(options.max_tokens)]
    if options.ctx_size != 0 and "ctx_size" in takes:
        argv += ["--ctx-size", str(options.ctx_size)]
    if "threads" in takes:
        if options.threads != -1:
            argv += ["--threads", str(options.threads)]
        elif not mode.container:
            argv += ["--threads", str(cpu_count)]
    if options.thinking is not None and "thinking" in takes:
        argv += ["--thinking", "true" if options.thinking else "false"]
    if "speculation" in takes:
        argv += speculation_args(options)
    runtime_args = [*sleep_args(options), *options.runtime_args]
    if options.prompt_cache is not None and generate is None:
        folder = options.prompt_cache
        if mode.container:
            folder = PROMPT_CACHE_MOUNT
            mount = f"--mount=type=bind,src={options.prompt_cache},destination={folder}"
            argv.append("--engine-args=" + shlex.join([mount]))
        runtime_args += ["--slot-save-path", folder]
    if runtime_args:
        # One argv item: with a space, argparse takes a value that starts
        # with "--" for a flag of ramalama's own. ramalama splits it with shlex.
        argv.append("--runtime-args=" + shlex.join(runtime_args))
    argv += ["--", options.model]
    return argv


def speculation_args(options: ModelOptions) -> list[str]:
    """ramalama's speculative decoding flags, which it passes on to llama-server.

    The draft model is a model reference that ramalama resolves in its store
    (and mounts in a container) like the main model; without ``speculation``
    it drafts with ``draft-simple``.

    >>> speculation_args(ModelOptions(model="m", speculation="ngram-mod"))
    ['--spec-type', 'ngram-mod']
    >>> speculation_args(ModelOptions(model="m", draft_model="smollm:135m", draft_max=8))
    ['--model-draft=smollm:135m', '--spec-type', 'draft-simple', '--spec-draft-n-max', '8']
    """
    args: list[str] = []
    if options.draft_model is not None:
        args.append("--model-draft=" + options.draft_model)  # a name may start with "-"
    if options.speculation is not None:
        args += ["--spec-type", options.speculation]
    elif options.draft_model is not None:
        # llama-server infers a kind only from a draft whose metadata names one
        # (EAGLE-3, MTP heads); a plain small model would load and never draft.
        args += ["--spec-type", "draft-simple"]
    if options.draft_max is not None:
        args += ["--spec-draft-n-max", str(options.draft_max)]
    if options.draft_min is not None:
        args += ["--spec-draft-n-min", str(options.draft_min)]
    return args


def sleep_args(options: ModelOptions) -> list[str]:
    """llama-server's idle sleep, which ramalama has no flag for: a runtime arg.

    >>> sleep_args(ModelOptions(model="m", sleep_after=300))
    ['--sleep-idle-seconds', '300']
    >>> sleep_args(ModelOptions(model="m"))
    []
    """
    if options.sleep_after is None:
        return []
    return ["--sleep-idle-seconds", str(options.sleep_after)]


def stop_argv(ramalama: str, name: str, mode: Mode) -> list[str]:
    """``ramalama stop NAME``: container mode only.

    >>> stop_argv("ramalama", "sdk-1", Mode(True, "docker"))
    ['ramalama', '--container', '--engine', 'docker', 'stop', '--', 'sdk-1']
    """
    return [ramalama, *global_flags(mode), "stop", "--", name]


def list_argv(ramalama: str, mode: Mode) -> list[str]:
    """``ramalama list --json``.

    >>> list_argv("ramalama", Mode(False))
    ['ramalama', '--nocontainer', 'list', '--json']
    """
    return [ramalama, *global_flags(mode), "list", "--json"]


def rm_argv(ramalama: str, models: Sequence[str], mode: Mode, *, ignore: bool = False) -> list[str]:
    """``ramalama rm MODEL...``.

    >>> rm_argv("ramalama", ["a", "b"], Mode(False), ignore=True)
    ['ramalama', '--nocontainer', 'rm', '--ignore', '--', 'a', 'b']
    """
    flags = ["--ignore"] if ignore else []
    return [ramalama, *global_flags(mode), "rm", *flags, "--", *models]


def _number(value: float) -> str:
    """A number as ramalama's argparse reads it, without float noise.

    >>> _number(0), _number(0.7), _number(1.0)
    ('0', '0.7', '1')
    """
    return f"{value:g}" if float(value).is_integer() else repr(float(value))
