"""Several models behind one server: llama-server's router mode, via ramalama.

``ramalama serve`` given several models runs llama-server as a *router*
(ramalama 0.25, container mode only): each model file is mounted under
``/mnt/models``, and the router starts a llama-server instance for a model
when a request names it (or on ``POST /models/load``), keeping at most
``--models-max`` loaded. The router knows a model by the file name ramalama
gave it in the container, not by the name the user gave; ramalama's
``--dryrun`` prints the mounts, in the order of the models, which ties one
to the other without guessing how ramalama spells each transport's alias.

The pure part lives here; the router classes are in ``_async/router.py``
and its generated twin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Sequence
from typing import Any

from .. import commands
from ..commands import API_KEY_ENVS, Mode
from ..errors import APIError, RamalamaError, ServerStartError
from ..process.containers import container_only
from ..process.failures import download_error
from ..process.server import Server, start_steps
from ..process.steps import Step
from ..store.progress import ProgressCallback, default_reporter
from ..store.pull import download_steps, run_steps
from .core import AUTO, ModelCore

MOUNT_DIR = "/mnt/models/"
_DESTINATION = re.compile(r"destination=(/mnt/models/[^,\s\"']+)")
STATES = ("unloaded", "loading", "loaded", "sleeping", "downloading")


def check_models(models: object) -> tuple[str, ...]:
    """The model names, or TypeError/ValueError.

    >>> check_models(["a", "b"])
    ('a', 'b')
    >>> check_models("a")
    Traceback (most recent call last):
    ...
    TypeError: models must be a list of model names, e.g. ['tinyllama', 'granite']
    """
    if isinstance(models, str) or not isinstance(models, Sequence):
        raise TypeError("models must be a list of model names, e.g. ['tinyllama', 'granite']")
    names = tuple(models)
    if not names:
        raise ValueError("models must name at least one model")
    if not all(isinstance(name, str) and name.strip() for name in names):
        raise TypeError("every model name must be a non-empty str")
    if len(set(names)) != len(names):
        raise ValueError("models must not name a model twice")
    return names


def check_models_max(value: object) -> int:
    """``models_max``: how many models the router keeps loaded at once (>= 1)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"models_max must be an int, not {value!r}")
    if value < 1:
        raise ValueError(f"models_max must be >= 1, not {value}")
    return value


def router_argv(argv: Sequence[str], models: Sequence[str], models_max: int) -> list[str]:
    """A one-model ``ramalama serve`` command line turned into the router's.

    >>> router_argv(["ramalama", "--container", "serve", "--port", "1", "--", "a"],
    ...             ["a", "b"], 2)  # doctest: +NORMALIZE_WHITESPACE
    ['ramalama', '--container', 'serve', '--port', '1', '--models-max', '2',
     '--', 'a', 'b']
    """
    head = list(argv)
    if len(head) < 2 or head[-2] != "--":
        raise ValueError("not a serve command line that ends with '-- MODEL'")
    return [*head[:-2], "--models-max", str(models_max), "--", *models]


def dryrun_argv(argv: Sequence[str]) -> list[str]:
    """The same command, printed by ramalama instead of run.

    >>> dryrun_argv(["/bin/ramalama", "--container", "serve", "--", "a"])
    ['/bin/ramalama', '--dryrun', '--container', 'serve', '--', 'a']
    """
    return [argv[0], "--dryrun", *argv[1:]]


def mount_targets(output: str) -> list[str]:
    """The model files' paths in the container, in the order of the models.

    >>> mount_targets("podman run --mount=type=bind,src=/s/a,destination=/mnt/models/x.gguf,ro "
    ...               "--mount=type=bind,src=/s/b,destination=/mnt/models/y.gguf,ro img")
    ['/mnt/models/x.gguf', '/mnt/models/y.gguf']
    """
    return _DESTINATION.findall(output)


def router_id(target: str) -> str:
    """The name the router gives model file ``target``: every ``.gguf`` removed.

    llama-server (``load_from_models_dir``) drops each ``.gguf`` of the
    file name, and ramalama names a file's mount ``ALIAS.gguf``:

    >>> router_id("/mnt/models/-tmp-m-tiny.gguf.gguf")
    '-tmp-m-tiny'
    """
    return target.rsplit("/", 1)[-1].replace(".gguf", "")


def model_states(body: bytes | str) -> dict[str, str]:
    """``GET /models`` of a router: each model id and its status.

    >>> model_states(b'{"data":[{"id":"a","status":{"value":"loaded"}},'
    ...              b'{"id":"b","status":{"value":"unloaded","failed":true}}]}')
    {'a': 'loaded', 'b': 'failed'}
    """
    try:
        data = json.loads(body)
        entries = data["data"]
        states = {}
        for entry in entries:
            status = entry.get("status") or {}
            value = "failed" if status.get("failed") else str(status.get("value", "unknown"))
            states[str(entry["id"])] = value
        return states
    except (ValueError, TypeError, KeyError, AttributeError):
        raise APIError(f"not a router's model list: {str(body)[:200]!r}") from None


class RouterCore(ModelCore):
    """What RamalamaRouter and AsyncRamalamaRouter share: names, argv, bodies."""

    def _router_init(self, models: object, models_max: object, container: object) -> None:
        self.models = check_models(models)
        """The models served, as given."""
        self.models_max = check_models_max(models_max)
        if container is False:
            raise ValueError("router mode runs in a container only: leave container unset")
        self._ids: dict[str, str] = {}

    def _router_id(self, model: object) -> str:
        if not isinstance(model, str):
            raise TypeError("model= must name one of the router's models (a str)")
        if model in self._ids:
            return self._ids[model]
        if model in self._ids.values():
            return model
        if model in self.models:  # not served yet: no id known
            raise self._not_running()
        raise ValueError(f"model {model!r} is not one of this router's models: {self.models}")

    def _target(self, name: str | None) -> str:
        if name is None:
            raise TypeError(f"a router needs model=, one of {self.models}")
        return self._router_id(name)

    def _download_steps(
        self, force: bool, progress: ProgressCallback | Any | None
    ) -> Generator[Step, object, None]:
        first = super()._download_steps(force, progress)
        return container_only(self._download_all(first, force, progress))

    def _download_all(
        self,
        first: Generator[Step, object, None],
        force: bool,
        progress: ProgressCallback | Any | None,
    ) -> Generator[Step, object, None]:
        yield from first
        mode, ramalama = self._resolve()
        for model in self.models[1:]:
            pull = commands.pull_argv(ramalama, model, mode)
            rm = commands.rm_argv(ramalama, [model], mode, ignore=True) if force else None
            callback = default_reporter(model) if progress is AUTO else progress
            yield from download_steps(model, pull, rm, self._env(), progress=callback)

    def _start_steps(self, mode: Mode, ramalama: str) -> Generator[Step, object, Server]:
        if not mode.container:
            raise RamalamaError(
                "router mode needs a container engine (podman or docker) that answers; "
                "none was found"
            )
        steps = super()._start_steps(mode, ramalama)
        steps.close()  # only its key choice was wanted: the router builds its own
        return container_only(self._router_steps(mode, ramalama))

    def _router_steps(self, mode: Mode, ramalama: str) -> Generator[Step, object, Server]:
        models, models_max = self.models, self.models_max

        def as_router(argv: list[str]) -> list[str]:
            return router_argv(argv, models, models_max)

        # ramalama's dry run names the files it mounts: the router's ids.
        probe = dryrun_argv(as_router(_argv_of(self, mode, ramalama)))
        code, output = yield from run_steps(probe, self._env())
        targets = mount_targets(output)
        if code != 0 or len(targets) != len(models):
            raise download_error(", ".join(models), probe, code, output)
        self._ids = {name: router_id(t) for name, t in zip(models, targets, strict=True)}
        key_env = API_KEY_ENVS[self.options.runtime] if self._key is not None else None
        return (
            yield from start_steps(
                self.options, mode, ramalama, api_key_env=key_env, argv_transform=as_router
            )
        )


def model_options(
    models: Sequence[str],
    *,
    base_image: str | None,
    temp: float,
    max_tokens: int,
    ctx_size: int,
    timeout: float,
    port: int | None,
    host: str,
    request_timeout: float,
    api_key: str | bool | None,
    runtime_args: Sequence[str],
) -> dict[str, Any]:
    """The options of a router's model core: a model's, always in a container."""
    return {
        "model": models[0],
        "base_image": base_image,
        "temp": temp,
        "max_tokens": max_tokens,
        "ctx_size": ctx_size,
        "timeout": timeout,
        "container": True,
        "port": port,
        "host": host,
        "request_timeout": request_timeout,
        "api_key": api_key,
        "runtime_args": runtime_args,
    }


def wait_failed(name: str, state: str, router: RouterCore) -> RamalamaError:
    return ServerStartError(
        f"the router could not load {name!r} (state {state!r})",
        model=name,
        log_tail=router.logs(20),
    )


def _argv_of(core: RouterCore, mode: Mode, ramalama: str) -> list[str]:
    return commands.serve_argv(ramalama, core.options, mode, port=1, cpu_count=1)
