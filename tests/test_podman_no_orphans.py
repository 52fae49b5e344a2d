"""No container outlives the Python program that served it, however it ends.

The container runs under conmon, outside ramalama's process group, so the
host-mode guarantees (a parent-death signal to ramalama, the group killed)
do not reach it; the watchdog of ramalama_sdk/process/watchdog.py does. Each case
serves the tiny model in podman from a child Python, ends that program, and
asserts with ``podman ps`` that the container is gone within a few seconds.
"""

from __future__ import annotations

import signal
import subprocess

import pytest

from conftest import port_is_listening, run_python, server_processes, wait_gone
from podman_bed import Bed

pytestmark = pytest.mark.container

GONE_WITHIN = 10.0  # seconds; about 1 s here, generous for a loaded machine

SERVE = """
import gc, sys, threading, time
from ramalama_sdk import RamalamaModel

model = None

def serve():
    global model
    model = RamalamaModel(model={uri!r}, container=True, base_image={image!r}, max_tokens=4)
    model.serve()

if {in_thread}:
    # The thread that served ends at once: its container must keep serving.
    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
else:
    serve()
time.sleep(0.5)
assert model.is_running, "the server died with the thread that started it"
assert model.chat("Hi")["role"] == "assistant"
print(model.port, model._server.name, model._server.popen.pid, flush=True)
{ending}
"""


def _serve(
    bed: Bed, uri: str, *, in_thread: bool = False, ending: str = "time.sleep(120)"
) -> tuple[subprocess.Popen[str], int, str]:
    code = SERVE.format(uri=uri, image=bed.image, in_thread=in_thread, ending=ending)
    child = run_python(code, stdin=subprocess.PIPE)
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise AssertionError(child.communicate(timeout=30)[1])
    port, name, _ = line.split()
    assert bed.containers(name) == [name]
    assert port_is_listening(int(port))
    return child, int(port), name


def _assert_gone(bed: Bed, name: str, port: int) -> None:
    left = bed.wait_gone(name, timeout=GONE_WITHIN)
    assert left == [], f"container still there {GONE_WITHIN:g} s after its program ended"
    assert not port_is_listening(port)
    assert wait_gone(server_processes(), timeout=GONE_WITHIN) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "ended-thread"])
def test_no_container_survives_a_signal(
    podman_bed: Bed, model_uri: str, sig: signal.Signals, in_thread: bool
) -> None:
    """SIGKILL, SIGTERM with its default handler, SIGINT (KeyboardInterrupt)."""
    child, port, name = _serve(podman_bed, model_uri, in_thread=in_thread)
    try:
        child.send_signal(sig)
        child.wait(timeout=60)
        _assert_gone(podman_bed, name, port)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_interpreter_exit_removes_the_container(podman_bed: Bed, model_uri: str) -> None:
    """A script that forgets stop(): the container goes with the interpreter."""
    child, port, name = _serve(podman_bed, model_uri, ending="sys.stdin.readline()")
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.close()
    assert child.wait(timeout=60) == 0
    # The exit waited for the removal: it is gone already, not just going.
    assert podman_bed.containers(name) == []
    _assert_gone(podman_bed, name, port)


def test_garbage_collection_removes_the_container(podman_bed: Bed, model_uri: str) -> None:
    # The model is dropped once the test has seen its container.
    ending = (
        "sys.stdin.readline(); del model; gc.collect(); print('dropped', flush=True); "
        "time.sleep(120)"
    )
    child, port, name = _serve(podman_bed, model_uri, ending=ending)
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "dropped"
        assert podman_bed.containers(name) == []  # the program still runs
        _assert_gone(podman_bed, name, port)
    finally:
        child.kill()
        child.wait()
