"""Where ramalama runs: which executable, which environment, container or not.

ramalama assumes a container engine whenever a ``podman`` or ``docker`` binary
exists, even a client with no daemon behind it, and then fails to pull its
image. The SDK instead honours ramalama's own configuration when it says
anything, and otherwise uses containers only when an engine really answers.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path

from ..commands import Mode
from ..errors import RamalamaNotInstalledError

_TRUE = {"on", "true", "1", "yes", "y"}
_FALSE = {"off", "false", "0", "no", "n"}
ENGINES = ("podman", "docker")


def _scripts_dir() -> str:
    # ramalama is a dependency of this package, so its console script sits
    # beside this interpreter even when that directory is not on PATH (a
    # venv used through its python binary, a notebook kernel).
    return sysconfig.get_path("scripts")


def child_path(env: Mapping[str, str] | None = None) -> str:
    """The PATH given to ramalama: the caller's, then this environment's scripts."""
    env = os.environ if env is None else env
    parts = [p for p in env.get("PATH", os.defpath).split(os.pathsep) if p]
    scripts = _scripts_dir()
    if scripts not in parts:
        parts.append(scripts)
    return os.pathsep.join(parts)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for every ramalama child process."""
    env = dict(os.environ)
    env["PATH"] = child_path(env)
    # ramalama's progress bars and colours are for terminals; its output
    # goes to a log file here.
    env.setdefault("NO_COLOR", "1")
    if extra:
        env.update(extra)
    return env


def find_ramalama(env: Mapping[str, str] | None = None) -> str:
    """The absolute path of the ``ramalama`` executable, or raise."""
    path = child_path(env)
    found = shutil.which("ramalama", path=path)
    if found is None:
        raise RamalamaNotInstalledError(path)
    return found


def _coerce_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _config_files(env: Mapping[str, str]) -> list[Path]:
    explicit = env.get("RAMALAMA_CONFIG")
    if explicit and os.path.exists(explicit):
        return [Path(explicit)]
    home = Path.home()
    dirs = [
        Path(sys.prefix, "share", "ramalama"),
        Path(sys.prefix, "local", "share", "ramalama"),
        # Where a distribution's ramalama (its sys.prefix is /usr) reads.
        Path("/usr/share/ramalama"),
        Path("/usr/local/share/ramalama"),
        Path("/etc/ramalama"),
        Path(env.get("XDG_DATA_HOME", home / ".local" / "share"), "ramalama"),
        Path(env.get("XDG_CONFIG_HOME", home / ".config"), "ramalama"),
    ]
    files: list[Path] = []
    for directory in dict.fromkeys(dirs):  # keep order, drop repeats
        main = directory / "ramalama.conf"
        if main.is_file():
            files.append(main)
        drop_in = directory / "ramalama.conf.d"
        if drop_in.is_dir():
            files.extend(sorted(drop_in.glob("*.conf")))
    return files


def _read_ramalama_table(path: Path) -> dict[str, object]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    if sys.version_info < (3, 11):  # no tomllib: read only the flat keys we need
        return _read_flat_keys(text)
    import tomllib

    try:
        table = tomllib.loads(text).get("ramalama", {})
    except tomllib.TOMLDecodeError:
        return {}
    return table if isinstance(table, dict) else {}


def _read_flat_keys(text: str) -> dict[str, object]:
    """``key = value`` lines of the ``[ramalama]`` table.

    >>> _read_flat_keys('[ramalama]\\ncontainer = false\\nengine = "docker"\\n')
    {'container': False, 'engine': 'docker'}
    """
    table: dict[str, object] = {}
    section = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[] ")
        elif section == "ramalama" and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            if value in ("true", "false"):
                table[key] = value == "true"
            elif re.fullmatch(r"\"[^\"]*\"|'[^']*'", value):
                table[key] = value[1:-1]
    return table


def configured(env: Mapping[str, str] | None = None) -> tuple[bool | None, str | None]:
    """What ramalama's own configuration says: (container, engine).

    The environment (``RAMALAMA_IN_CONTAINER``, ``RAMALAMA_CONTAINER``,
    ``RAMALAMA_CONTAINER_ENGINE``, ``RAMALAMA_ENGINE``) beats the
    ramalama.conf files, later files beat earlier ones, as in ramalama.
    """
    env = os.environ if env is None else env
    container: bool | None = None
    engine: str | None = None
    for path in _config_files(env):
        table = _read_ramalama_table(path)
        if "container" in table:
            container = _coerce_bool(table["container"])
        if isinstance(table.get("engine"), str):
            engine = str(table["engine"])
    for key in ("RAMALAMA_CONTAINER", "RAMALAMA_IN_CONTAINER"):
        if key in env and _coerce_bool(env[key]) is not None:
            container = _coerce_bool(env[key])
    for key in ("RAMALAMA_ENGINE", "RAMALAMA_CONTAINER_ENGINE"):
        if env.get(key):
            engine = env[key]
    return container, engine


@functools.lru_cache(maxsize=8)
def engine_answers(engine: str) -> bool:
    """Whether ``ENGINE info`` succeeds: a client alone, with no daemon, fails.

    The answer is cached for the life of the process.
    """
    executable = shutil.which(engine, path=child_path())
    if executable is None:
        return False
    try:
        done = subprocess.run(
            [executable, "info"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def decide_mode(container: bool | None, env: Mapping[str, str] | None = None) -> Mode:
    """Container mode or not, for the ``container`` option of a model.

    True and False are obeyed. None follows ramalama's configuration, and
    where that is silent, uses the first engine of podman and docker that
    answers, else the host.
    """
    conf_container, conf_engine = configured(env)
    if container is None:
        container = conf_container
    if container is False:
        return Mode(container=False)
    candidates = [conf_engine] if conf_engine else list(ENGINES)
    for engine in candidates:
        if engine_answers(engine):
            return Mode(container=True, engine=engine)
    if container is True:
        # Asked for explicitly: let ramalama pick and report the failure.
        return Mode(container=True, engine=conf_engine)
    return Mode(container=False)
