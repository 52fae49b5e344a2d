"""Where ramalama runs: its configuration, the container decision, the executable.

No container engine can run on these machines (a ``docker`` client without a
daemon, no podman), so engines that answer are stand-in shell scripts named
``podman``/``docker`` put first on PATH: ``info`` exits 0 for an engine that
answers and 1 for a client with no daemon, as the real clients do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramalama_sdk import RamalamaNotInstalledError
from ramalama_sdk.commands import Mode
from ramalama_sdk.process import engine

ENGINE_VARS = "RAMALAMA_CONTAINER RAMALAMA_IN_CONTAINER RAMALAMA_ENGINE RAMALAMA_CONTAINER_ENGINE"


@pytest.fixture(autouse=True)
def fresh_engine_cache() -> Iterator[None]:
    engine.engine_answers.cache_clear()
    yield
    engine.engine_answers.cache_clear()


@pytest.fixture
def quiet(tmp_path: Path) -> dict[str, str]:
    """An environment whose only ramalama.conf is empty: the config says nothing."""
    conf = tmp_path / "empty.conf"
    conf.write_text("")
    return {"RAMALAMA_CONFIG": str(conf)}


class Engines:
    """Scripts ``NAME info`` exiting 0 (answers) or 1 (no daemon), first on PATH."""

    def __init__(self, bin_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin_dir = bin_dir
        self.monkeypatch = monkeypatch

    def set(self, *, podman: bool, docker: bool) -> None:
        self.bin_dir.mkdir()
        for name, answer in (("podman", podman), ("docker", docker)):
            script = self.bin_dir / name
            script.write_text(f'#!/bin/sh\n[ "$1" = info ] && exit {0 if answer else 1}\nexit 2\n')
            script.chmod(0o755)
        self.monkeypatch.setenv("PATH", f"{self.bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engines:
    return Engines(tmp_path / "engines", monkeypatch)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# -- configured() ------------------------------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({}, (None, None)),
        ({"RAMALAMA_CONTAINER": "false"}, (False, None)),
        ({"RAMALAMA_CONTAINER": "true"}, (True, None)),
        ({"RAMALAMA_IN_CONTAINER": "yes"}, (True, None)),
        ({"RAMALAMA_IN_CONTAINER": "0"}, (False, None)),
        ({"RAMALAMA_IN_CONTAINER": "False"}, (False, None)),
        ({"RAMALAMA_CONTAINER": "maybe"}, (None, None)),
        # As in ramalama, RAMALAMA_IN_CONTAINER overrides RAMALAMA_CONTAINER.
        ({"RAMALAMA_CONTAINER": "true", "RAMALAMA_IN_CONTAINER": "false"}, (False, None)),
        ({"RAMALAMA_CONTAINER_ENGINE": "docker"}, (None, "docker")),
        ({"RAMALAMA_ENGINE": "podman"}, (None, "podman")),
        ({"RAMALAMA_ENGINE": "podman", "RAMALAMA_CONTAINER_ENGINE": "docker"}, (None, "docker")),
    ],
)
def test_configured_from_environment(
    quiet: dict[str, str], variables: dict[str, str], expected: tuple[bool | None, str | None]
) -> None:
    assert engine.configured({**quiet, **variables}) == expected


def test_configured_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAMALAMA_IN_CONTAINER", "true")
    monkeypatch.setenv("RAMALAMA_CONTAINER_ENGINE", "docker")
    assert engine.configured() == (True, "docker")


def test_configured_from_ramalama_config_file(tmp_path: Path) -> None:
    conf = write(tmp_path / "r.conf", '[ramalama]\ncontainer = false\nengine = "docker"\n')
    assert engine.configured({"RAMALAMA_CONFIG": str(conf)}) == (False, "docker")
    conf.write_text('[ramalama.user]\ncontainer = false\nengine = "docker"\n')
    assert engine.configured({"RAMALAMA_CONFIG": str(conf)}) == (None, None)


def test_environment_beats_config_file(tmp_path: Path) -> None:
    conf = write(tmp_path / "r.conf", '[ramalama]\ncontainer = false\nengine = "docker"\n')
    env = {
        "RAMALAMA_CONFIG": str(conf),
        "RAMALAMA_CONTAINER": "true",
        "RAMALAMA_CONTAINER_ENGINE": "podman",
    }
    assert engine.configured(env) == (True, "podman")


def test_drop_in_files_are_read_in_order_later_ones_win(tmp_path: Path) -> None:
    data = tmp_path / "data" / "ramalama"
    config = tmp_path / "config" / "ramalama"
    write(data / "ramalama.conf", '[ramalama]\ncontainer = true\nengine = "podman"\n')
    write(config / "ramalama.conf", '[ramalama]\ncontainer = true\nengine = "podman"\n')
    drop_in = config / "ramalama.conf.d"
    write(drop_in / "20-b.conf", '[ramalama]\nengine = "docker"\n')
    write(drop_in / "10-a.conf", '[ramalama]\ncontainer = false\nengine = "podman"\n')
    env = {
        # A RAMALAMA_CONFIG that does not exist is passed over, as ramalama does.
        "RAMALAMA_CONFIG": str(tmp_path / "missing.conf"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    assert engine.configured(env) == (False, "docker")
    assert engine.configured({**env, "RAMALAMA_IN_CONTAINER": "on"}) == (True, "docker")


# -- decide_mode() -------------------------------------------------------------


@pytest.mark.parametrize("variables", [{}, {"RAMALAMA_CONTAINER": "true"}])
def test_false_is_obeyed(
    engines: Engines, quiet: dict[str, str], variables: dict[str, str]
) -> None:
    engines.set(podman=True, docker=True)
    assert engine.decide_mode(False, {**quiet, **variables}) == Mode(container=False)


def test_true_is_obeyed_against_the_config(engines: Engines, quiet: dict[str, str]) -> None:
    engines.set(podman=True, docker=False)
    env = {**quiet, "RAMALAMA_CONTAINER": "false"}
    assert engine.decide_mode(True, env) == Mode(container=True, engine="podman")


def test_true_without_an_answering_engine_lets_ramalama_choose(
    engines: Engines, quiet: dict[str, str]
) -> None:
    engines.set(podman=False, docker=False)
    assert engine.decide_mode(True, quiet) == Mode(container=True, engine=None)
    configured = {**quiet, "RAMALAMA_CONTAINER_ENGINE": "docker"}
    assert engine.decide_mode(True, configured) == Mode(container=True, engine="docker")


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"RAMALAMA_CONTAINER": "false"}, Mode(container=False)),
        ({"RAMALAMA_IN_CONTAINER": "yes"}, Mode(container=True, engine="podman")),
        ({"RAMALAMA_CONTAINER_ENGINE": "docker"}, Mode(container=True, engine="docker")),
    ],
)
def test_none_follows_the_config(
    engines: Engines, quiet: dict[str, str], variables: dict[str, str], expected: Mode
) -> None:
    engines.set(podman=True, docker=True)
    assert engine.decide_mode(None, {**quiet, **variables}) == expected


def test_none_with_a_configured_engine_that_does_not_answer_stays_on_the_host(
    engines: Engines, quiet: dict[str, str]
) -> None:
    engines.set(podman=True, docker=False)
    env = {**quiet, "RAMALAMA_CONTAINER_ENGINE": "docker"}
    assert engine.decide_mode(None, env) == Mode(container=False)


@pytest.mark.parametrize(
    ("podman", "docker", "expected"),
    [
        (False, False, Mode(container=False)),  # a client alone is not an engine
        (False, True, Mode(container=True, engine="docker")),
        (True, False, Mode(container=True, engine="podman")),
        (True, True, Mode(container=True, engine="podman")),  # podman first
    ],
)
def test_none_with_silent_config_uses_an_engine_only_when_it_answers(
    engines: Engines, quiet: dict[str, str], podman: bool, docker: bool, expected: Mode
) -> None:
    engines.set(podman=podman, docker=docker)
    assert engine.decide_mode(None, quiet) == expected


def test_this_machine_without_config_runs_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real environment: a docker client without a daemon (or none) means the
    host; a podman that answers (as .ci/podman-setup provisions) means podman."""
    for name in ENGINE_VARS.split():
        monkeypatch.delenv(name, raising=False)
    assert not os.path.exists(os.environ["RAMALAMA_CONFIG"])
    if shutil.which("podman") and engine.engine_answers("podman"):
        # ramalama's own choice too: an engine that answers means containers.
        assert engine.decide_mode(None) == Mode(container=True, engine="podman")
        return
    docker = shutil.which("docker")
    if docker is not None:
        info = subprocess.run([docker, "info"], capture_output=True, timeout=30, check=False)
        if info.returncode == 0:
            pytest.skip("a docker daemon runs here")
    assert engine.decide_mode(None) == Mode(container=False)


# -- find_ramalama() and the child environment ---------------------------------


def test_find_ramalama_searches_path_then_the_scripts_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    expected = os.path.join(engine._scripts_dir(), "ramalama")
    assert engine.find_ramalama() == expected
    assert engine.find_ramalama({"PATH": str(tmp_path)}) == expected
    own = write(tmp_path / "ramalama", "#!/bin/sh\nexit 0\n")
    own.chmod(0o755)
    assert engine.find_ramalama() == str(own)


def test_find_ramalama_raises_when_nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(engine, "_scripts_dir", lambda: str(empty))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RamalamaNotInstalledError) as caught:
        engine.find_ramalama()
    assert isinstance(caught.value, FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        engine.find_ramalama({"PATH": str(tmp_path)})


def test_child_env_keeps_path_order_and_appends_scripts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = engine._scripts_dir()
    first, second = str(tmp_path / "a"), str(tmp_path / "b")
    monkeypatch.setenv("PATH", os.pathsep.join([first, second]))
    assert engine.child_env()["PATH"].split(os.pathsep) == [first, second, scripts]
    monkeypatch.setenv("PATH", os.pathsep.join([second, scripts, first]))
    assert engine.child_env()["PATH"].split(os.pathsep) == [second, scripts, first]


def test_child_env_copies_the_environment_with_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDK_PROBE", "kept")
    monkeypatch.delenv("NO_COLOR", raising=False)
    env = engine.child_env({"SDK_EXTRA": "1"})
    assert (env["SDK_PROBE"], env["SDK_EXTRA"], env["NO_COLOR"]) == ("kept", "1", "1")
    assert "SDK_EXTRA" not in os.environ
