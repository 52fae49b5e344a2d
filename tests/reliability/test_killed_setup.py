"""A ``setup`` killed by a CI timeout leaves nothing running and nothing half-built.

Pattern protected: a CI job runs ``python -m ramalama_sdk.testing setup`` (or
``make install``) on a fresh runner, and the job's timeout kills it with
SIGTERM, or SIGKILL, at any stage: while pip downloads the llama.cpp source,
while cmake configures, while the compiler runs, or while the probe
llama-server serves on loopback without a key. Nothing of it may survive
the kill, and the next run must not trip over its work folder.

Every stage is the real one: the download from the package index, cmake, the
compiler and the probe of the real cached binary. The test waits for the
stage's own process to appear, freezes it with SIGSTOP (so that it cannot
finish before the kill, whatever the machine's speed), then kills ``setup``
alone, as a timeout that signals one process does. The probe's server lives
for a fraction of a second, too short to be caught for sure on a busy
machine, so it is given as ``LLAMA_SERVER``: a ``llama-server`` script that
stops itself before it execs the real binary, where the probe starts it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from conftest import wait_gone, wait_until
from ramalama_sdk.stack import server_build
from ramalama_sdk.stack.server_build import BuildError, BuildRecipe, recipe_for


def _is_pip_download(proc: psutil.Process) -> bool:
    cmdline = proc.cmdline()
    return "pip" in cmdline and "download" in cmdline


def _is_cmake_configure(proc: psutil.Process) -> bool:
    cmdline = proc.cmdline()
    return bool(cmdline) and os.path.basename(cmdline[0]) == "cmake" and "-S" in cmdline


def _is_compiler(proc: psutil.Process) -> bool:
    return proc.name() in ("cc1plus", "cc1")


def _is_probe_server(proc: psutil.Process) -> bool:
    # The self-freezing script runs as ``/bin/sh .../llama-server ARGS``.
    return "llama-server" in (os.path.basename(arg) for arg in proc.cmdline()[:2])


STAGES: dict[str, Callable[[psutil.Process], bool]] = {
    "download": _is_pip_download,
    "configure": _is_cmake_configure,
    "compile": _is_compiler,
    "probe": _is_probe_server,
}


def _wait_for_stage(setup: subprocess.Popen[str], stage: str) -> psutil.Process:
    """The process of ``stage`` among setup's descendants, once it runs."""
    matches = STAGES[stage]
    deadline = time.monotonic() + 600  # a loaded machine may be slow to get there
    parent = psutil.Process(setup.pid)
    while time.monotonic() < deadline:
        if setup.poll() is not None:
            pytest.fail(f"setup ended before the {stage} stage:\n{setup.stderr.read()}")  # type: ignore[union-attr]
        for proc in parent.children(recursive=True):
            try:
                if matches(proc):
                    return proc
            except psutil.Error:
                continue
        time.sleep(0.05)
    pytest.fail(f"setup never reached the {stage} stage")


def _start_setup(cache: Path | None, server: Path | None = None) -> subprocess.Popen[str]:
    """``setup`` building into ``cache``, or probing ``server`` (LLAMA_SERVER)."""
    env = dict(os.environ)
    if server is not None:
        env["LLAMA_SERVER"] = str(server)
    else:
        env["RAMALAMA_SDK_FORCE_BUILD"] = "1"
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.Popen(
        [sys.executable, "-m", "ramalama_sdk.testing", "setup"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _work_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return [path for path in root.iterdir() if server_build._work_dir_key(path.name)]


def test_the_children_of_a_killed_program_die_with_it() -> None:
    code = (
        "import time\n"
        "from ramalama_sdk.process.child_groups import ChildGroups\n"
        "with ChildGroups() as children:\n"
        "    children.popen(['sh', '-c', 'sleep 600 & sleep 600'])\n"
        "    print('started', flush=True)\n"
        "    time.sleep(600)\n"
    )
    program = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert program.stdout is not None and program.stdout.readline() == "started\n"

        def sleeps() -> list[psutil.Process]:
            found = psutil.Process(program.pid).children(recursive=True)
            return [p for p in found if p.name() == "sleep"]

        assert wait_until(lambda: len(sleeps()) == 2)  # two, in the group the child leads
        descendants = psutil.Process(program.pid).children(recursive=True)
        program.kill()
        program.wait()
        assert wait_gone(descendants, timeout=60) == []  # the watchdog included
    finally:
        if program.poll() is None:
            program.kill()
            program.wait()


# Each stage is killed, and each way of killing reaches both a stage with one
# child (pip, cmake) and one with a tree of them (cmake --build's make and
# compilers). The stages past the download cost a real source download and
# unpacking each (about 20 s), so those two take one signal each rather
# than both.
KILLS = [
    ("download", signal.SIGKILL),
    ("download", signal.SIGTERM),
    ("configure", signal.SIGKILL),
    ("compile", signal.SIGTERM),
    ("probe", signal.SIGKILL),
    ("probe", signal.SIGTERM),
]


@pytest.mark.parametrize(
    ("stage", "kill"), KILLS, ids=[f"{stage}-{kill.name}" for stage, kill in KILLS]
)
def test_a_setup_killed_by_a_ci_timeout_leaves_nothing_running(
    stage: str, kill: signal.Signals, tmp_path: Path
) -> None:
    # The build stages start from an empty cache; the probe stage probes the
    # real cached build of this run, through a script that freezes itself.
    cache: Path | None = tmp_path / "cache"
    server = None
    if stage == "probe":
        entry = server_build.cached(recipe_for())
        if entry is None:
            pytest.skip("no cached source build for this CPU to probe (make install makes one)")
        server = tmp_path / "bin" / "llama-server"
        server.parent.mkdir()
        server.write_text(f'#!/bin/sh\nkill -STOP $$\nexec "{entry.binary}" "$@"\n')
        server.chmod(0o755)
        cache = None
    setup = _start_setup(cache, server)
    try:
        target = _wait_for_stage(setup, stage)
        target.suspend()  # frozen mid-stage: it cannot finish before the kill
        descendants = psutil.Process(setup.pid).children(recursive=True)
        setup.send_signal(kill)
        setup.communicate(timeout=120)
        # The watchdog (one of the descendants) kills the groups, then exits.
        left = wait_gone(descendants, timeout=60)
        assert left == [], [(p.pid, p.cmdline()) for p in left]
    finally:
        if setup.poll() is None:
            setup.kill()
            setup.wait()
    if cache is None:
        return
    root = cache / "ramalama-sdk" / "llama-server"
    if kill == signal.SIGTERM:
        assert _work_dirs(root) == []  # it unwound and cleaned up itself
        return
    # SIGKILL leaves the work folder; the next build in this cache removes it.
    assert _work_dirs(root) != []
    with pytest.raises(BuildError):  # a version the index lacks: fails at once
        server_build.build(BuildRecipe("0.0.0.1", "x86-64-v3", (), "test"), root=root)
    assert _work_dirs(root) == []
