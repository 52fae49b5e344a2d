"""A frozen app (PyInstaller) serves a model in a container, on real podman.

In a frozen app ``sys.executable`` is the app itself, and under uwsgi it is
the uwsgi binary: launching the container's watchdog with it would start
the program again, and leave the container unwatched. Here a child Python
plays the frozen app as PyInstaller lays it out (``sys.frozen``,
``sys.executable`` and ``_base_executable`` the app, ``sys.prefix`` a folder
holding no interpreter); the "app" it names is a script that leaves a mark
if it is ever started. A Python interpreter is then found on ``PATH``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import port_is_listening, run_python, server_processes, wait_gone
from podman_bed import Bed

pytestmark = pytest.mark.container

GONE_WITHIN = 10.0  # seconds; about 1 s here

FROZEN = """
import sys
sys.frozen = True
sys.executable = sys._base_executable = {app!r}
sys.prefix = sys.base_prefix = sys.exec_prefix = sys.base_exec_prefix = {bundle!r}
from ramalama_sdk import RamalamaModel, ServerStartError

model = RamalamaModel(model={uri!r}, container=True, base_image={image!r}, max_tokens=4)
try:
    model.serve()
except ServerStartError as exc:
    print("refused", str(exc).replace("\\n", " "), flush=True)
    sys.exit(0)
assert model.chat("Hi")["role"] == "assistant"
print("serving", model.port, model._server.name, flush=True)
sys.stdin.readline()
"""


def _frozen_app(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The app's executable (it marks being started), its bundle folder, the mark."""
    mark = tmp_path / "app-was-started"
    app = tmp_path / "bundle" / "myapp"
    app.parent.mkdir()
    app.write_text(f'#!/bin/sh\necho "$@" >> {mark}\nexit 0\n')
    app.chmod(0o755)
    return app, app.parent, mark


def _run_frozen(
    bed: Bed, uri: str, tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], list[str], Path]:
    app, bundle, mark = _frozen_app(tmp_path)
    code = FROZEN.format(app=str(app), bundle=str(bundle), uri=uri, image=bed.image)
    child = run_python(code, stdin=subprocess.PIPE, env=env)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise AssertionError(child.communicate(timeout=30)[1])
    return child, line.split(), mark


def test_frozen_app_serving_in_a_container_is_watched_not_relaunched(
    podman_bed: Bed, model_uri: str, tmp_path: Path
) -> None:
    child, said, mark = _run_frozen(podman_bed, model_uri, tmp_path)
    try:
        assert said[0] == "serving", said
        port, name = int(said[1]), said[2]
        assert podman_bed.containers(name) == [name]
        child.send_signal(signal.SIGKILL)  # the app dies: only the watchdog is left
        child.wait(timeout=60)
        assert podman_bed.wait_gone(name, timeout=GONE_WITHIN) == []
        assert not port_is_listening(port)
        assert wait_gone(server_processes(), timeout=GONE_WITHIN) == []
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not mark.exists(), f"the app was started again: {mark.read_text()!r}"


def test_a_watchdog_that_dies_at_once_is_noticed(
    podman_bed: Bed, model_uri: str, tmp_path: Path
) -> None:
    """The only interpreter found is broken: the serve fails, no container is made."""
    broken = tmp_path / "broken-bin"
    broken.mkdir()
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    for name in (version, "python3"):
        script = broken / name
        script.write_text("#!/bin/sh\nexit 3\n")
        script.chmod(0o755)
    env = {**os.environ, "PATH": f"{broken}{os.pathsep}{os.environ['PATH']}"}
    before = set(podman_bed.containers())
    child, said, mark = _run_frozen(podman_bed, model_uri, tmp_path, env=env)
    child.communicate(timeout=60)
    assert said[0] == "refused", said
    text = " ".join(said)
    assert "watchdog" in text and "exited at once (exit code 3)" in text
    assert set(podman_bed.containers()) <= before
    assert wait_gone(server_processes(), timeout=GONE_WITHIN) == []
    assert not mark.exists()
