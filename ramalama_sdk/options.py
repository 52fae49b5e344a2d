"""A model's options, checked once when the model object is made.

Zero is a value: ``temp=0`` means greedy decoding and is passed on as such;
only an option left at its default is omitted from the command line.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from typing import Literal, get_args

from .http.addresses import check_host

DEFAULT_TEMP = 0.8
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PROMPT_CACHE_SIZE = 4 * 2**30  # bytes
# Longer waits than this are a mistake, and sockets cannot even take some
# (10**10 s overflows a timeval): about 116 days.
MAX_SECONDS = 10_000_000

Runtime = Literal["llama.cpp", "vllm", "mlx"]
"""The inference servers ramalama runs: llama-server, vLLM, mlx_lm.server."""
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
DEFAULT_RUNTIME: Runtime = "llama.cpp"

# llama-server's --spec-type names (llama.cpp 11434, common/speculative.cpp).
# The n-gram kinds need no second model; the draft kinds need draft_model.
NGRAM_SPECULATION = ("ngram-simple", "ngram-mod", "ngram-map-k", "ngram-map-k4v", "ngram-cache")
DRAFT_SPECULATION = ("draft-simple", "draft-eagle3", "draft-mtp", "draft-dflash", "draft-dspark")
SPECULATION_TYPES = frozenset((*NGRAM_SPECULATION, *DRAFT_SPECULATION))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(
        value  # type: ignore[arg-type]
    )


def check_api_key(key: object) -> str:
    """A key that can travel in an HTTP header and a file, or TypeError/ValueError."""
    if not isinstance(key, str):
        raise TypeError(f"api_key must be a str, True, False or None, not {type(key).__name__}")
    if not key or not key.isprintable() or key != key.strip() or "," in key:
        # llama-server splits keys on commas; headers cannot carry controls.
        raise ValueError("api_key must be printable, non-empty, without commas or edge spaces")
    if not key.isascii():
        # HTTP headers travel as Latin-1 at best: a non-ASCII key would be
        # refused by the client or arrive mangled (a misleading 401).
        raise ValueError("api_key must be ASCII text")
    return key


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Everything that shapes how one model is pulled and served.

    >>> ModelOptions(model="tinyllama", temp=0).temp
    0
    >>> ModelOptions(model="tinyllama", threads=0)
    Traceback (most recent call last):
    ...
    ValueError: threads must be -1 (all cores) or a positive integer, not 0
    >>> ModelOptions(model="tinyllama", runtime="tgi")
    Traceback (most recent call last):
    ...
    ValueError: runtime must be one of 'llama.cpp', 'vllm', 'mlx', not 'tgi'
    """

    model: str
    base_image: str | None = None
    temp: float = DEFAULT_TEMP
    ngl: int = -1
    max_tokens: int = 0
    threads: int = -1
    ctx_size: int = 0
    timeout: float = 30.0
    container: bool | None = None
    port: int | None = None
    host: str = DEFAULT_HOST
    request_timeout: float = 600.0
    # None: a fresh random key for every server; False: none; str: this key.
    api_key: str | bool | None = dataclasses.field(default=None, repr=False)
    runtime: Runtime = DEFAULT_RUNTIME
    # Passed to the inference server as they are, e.g. ("--parallel", "8").
    runtime_args: Sequence[str] = ()
    # A thinking model thinks (True) or answers at once (False); None: its default.
    thinking: bool | None = None
    # A folder (absolute path) where llama-server's prompt states are kept
    # across restarts; None: not kept. See prompt_cache/.
    prompt_cache: str | None = None
    prompt_cache_size: int = DEFAULT_PROMPT_CACHE_SIZE
    # Speculative decoding: llama-server's --spec-type ("ngram-mod", ...), a
    # draft model pulled like the model, and how many tokens it drafts.
    speculation: str | None = None
    draft_model: str | None = None
    draft_max: int | None = None
    draft_min: int | None = None
    # Seconds without a request after which llama-server unloads the model.
    sleep_after: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str):
            raise TypeError(f"model must be a str, not {type(self.model).__name__}")
        if not self.model.strip():
            raise ValueError("model must not be empty")
        if "\0" in self.model:
            raise ValueError("model must not contain a NUL character")
        if self.base_image is not None and (
            not isinstance(self.base_image, str) or not self.base_image
        ):
            raise TypeError("base_image must be a non-empty str or None")
        if not _is_number(self.temp):
            raise TypeError(f"temp must be a number, not {self.temp!r}")
        if self.temp < 0:
            raise ValueError(f"temp must be >= 0, not {self.temp}")
        self._check_int("ngl", minimum=-1)
        self._check_int("max_tokens", minimum=0)
        self._check_int("ctx_size", minimum=0)
        self._check_int("threads", minimum=-1)
        if self.threads == 0:
            raise ValueError("threads must be -1 (all cores) or a positive integer, not 0")
        for name in ("timeout", "request_timeout"):
            value = getattr(self, name)
            if not _is_number(value):
                raise TypeError(f"{name} must be a number of seconds, not {value!r}")
            if value <= 0:
                raise ValueError(f"{name} must be > 0 seconds, not {value}")
            if value > MAX_SECONDS:
                raise ValueError(f"{name} must be at most {MAX_SECONDS} seconds, not {value}")
        if self.container is not None and not isinstance(self.container, bool):
            raise TypeError("container must be True, False or None")
        if self.port is not None:
            self._check_int("port", minimum=1)
            if self.port > 65535:
                raise ValueError(f"port must be at most 65535, not {self.port}")
        check_host(self.host)
        if self.api_key is not None and not isinstance(self.api_key, bool):
            check_api_key(self.api_key)
        if not isinstance(self.runtime, str):
            raise TypeError(f"runtime must be a str, not {type(self.runtime).__name__}")
        if self.runtime not in RUNTIMES:
            choices = ", ".join(repr(r) for r in RUNTIMES)
            raise ValueError(f"runtime must be one of {choices}, not {self.runtime!r}")
        if self.runtime == "mlx" and self.container is True:
            # ramalama runs mlx_lm.server on the host whatever it is told.
            raise ValueError("runtime='mlx' runs on the host only: leave container unset or False")
        if (
            isinstance(self.runtime_args, str)
            or not isinstance(self.runtime_args, Sequence)
            or not all(isinstance(arg, str) for arg in self.runtime_args)
        ):
            raise TypeError("runtime_args must be a list of str, e.g. ['--parallel', '8']")
        if any("\0" in arg for arg in self.runtime_args):
            raise ValueError("runtime_args must not contain a NUL character")
        object.__setattr__(self, "runtime_args", tuple(self.runtime_args))
        if self.thinking is not None and not isinstance(self.thinking, bool):
            raise TypeError("thinking must be True, False or None")
        if self.runtime == "mlx" and isinstance(self.api_key, str):
            raise ValueError("runtime='mlx': its server (mlx_lm) cannot check an api_key")
        self._check_prompt_cache()
        self._check_engine_levers()

    def _check_prompt_cache(self) -> None:
        folder = self.prompt_cache
        if folder is not None:
            if not isinstance(folder, str):
                raise TypeError("prompt_cache must be a folder's path, True, False or None")
            if not os.path.isabs(folder) or "\0" in folder:
                raise ValueError(f"prompt_cache must be an absolute path, not {folder!r}")
            if "," in folder:  # a container's --mount option separates its fields with commas
                raise ValueError(f"prompt_cache must not contain a comma: {folder!r}")
            if self.runtime != DEFAULT_RUNTIME:
                raise ValueError("prompt_cache needs runtime='llama.cpp' (llama-server's slots)")
        self._check_int("prompt_cache_size", minimum=1)

    def _check_engine_levers(self) -> None:
        """speculation, draft_model, draft_max/min and sleep_after: llama.cpp only."""
        used = [
            name
            for name in ("speculation", "draft_model", "draft_max", "draft_min", "sleep_after")
            if getattr(self, name) is not None
        ]
        if used and self.runtime != DEFAULT_RUNTIME:
            raise ValueError(f"{', '.join(used)}: llama.cpp only, not runtime={self.runtime!r}")
        if self.speculation is not None:
            object.__setattr__(self, "speculation", check_speculation(self.speculation))
        if self.draft_model is not None:
            if not isinstance(self.draft_model, str):
                raise TypeError(f"draft_model must be a str, not {type(self.draft_model).__name__}")
            if not self.draft_model.strip() or "\0" in self.draft_model:
                raise ValueError("draft_model must be a model name, not empty or with NUL")
        kinds = (self.speculation or "").split(",")
        if any(kind in DRAFT_SPECULATION for kind in kinds) and self.draft_model is None:
            raise ValueError(f"speculation={self.speculation!r} needs a draft_model")
        for name in ("draft_max", "draft_min"):
            if getattr(self, name) is not None:
                self._check_int(name, minimum=0)
        low, high = self.draft_min, self.draft_max
        if low is not None and high is not None and low > high:
            raise ValueError(f"draft_min ({low}) must not exceed draft_max ({high})")
        if self.sleep_after is not None:
            self._check_int("sleep_after", minimum=1)  # llama-server refuses 0
            if self.sleep_after > MAX_SECONDS:
                raise ValueError(f"sleep_after must be at most {MAX_SECONDS} seconds")

    def _check_int(self, name: str, *, minimum: int) -> None:
        value = getattr(self, name)
        if not _is_int(value):
            raise TypeError(f"{name} must be an int, not {value!r}")
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, not {value}")


def check_speculation(value: object) -> str:
    """llama-server's ``--spec-type`` value: one kind, or several joined by commas.

    >>> check_speculation("ngram-mod"), check_speculation(["ngram-mod", "draft-simple"])
    ('ngram-mod', 'ngram-mod,draft-simple')
    >>> check_speculation("ngram_simple")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: speculation 'ngram_simple' is not one of draft-dflash, ..., ngram-simple
    """
    if isinstance(value, str):
        kinds = [kind.strip() for kind in value.split(",")]
    elif isinstance(value, Sequence) and all(isinstance(kind, str) for kind in value):
        kinds = [kind.strip() for kind in value]
    else:
        raise TypeError("speculation must be a str such as 'ngram-mod', or a list of them")
    for kind in kinds:
        if kind not in SPECULATION_TYPES:
            known = ", ".join(sorted(SPECULATION_TYPES))
            raise ValueError(f"speculation {kind!r} is not one of {known}")
    return ",".join(kinds)
