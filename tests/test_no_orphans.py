"""No server outlives the Python program that started it, however it ends."""

from __future__ import annotations

import signal
import subprocess
import time

import psutil
import pytest

from conftest import has_exited, port_is_listening, server_processes, serving_child, wait_gone

SERVE_AND_WAIT = """
import sys, threading, time
from ramalama_sdk import RamalamaModel

def serve():
    global model
    model = RamalamaModel(model={uri!r})
    model.serve()

if {in_thread}:
    # The serving thread ends at once: the server must stay up regardless.
    t = threading.Thread(target=serve); t.start(); t.join()
else:
    serve()
time.sleep(0.5)
assert model.is_running, "server died with the thread that started it"
print(model.port, model._server.popen.pid, flush=True)
{ending}
"""


def _wait_until_gone(procs: list[psutil.Process], port: int, limit: float = 5.0) -> None:
    alive = wait_gone(procs, timeout=limit)
    assert alive == [], f"still running {limit} s after the parent died: {alive}"
    deadline = time.monotonic() + limit
    while port_is_listening(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not port_is_listening(port)


def _start(
    model_uri: str, *, in_thread: bool, ending: str
) -> tuple[subprocess.Popen[str], int, list[psutil.Process]]:
    code = SERVE_AND_WAIT.format(uri=model_uri, in_thread=in_thread, ending=ending)
    child, port, tree = serving_child(code, stdin=subprocess.PIPE)
    assert any("llama-server" in p.name() for p in tree)
    assert port_is_listening(port)
    return child, port, tree


@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "short-lived-thread"])
def test_sigkill_of_the_parent_stops_the_server(model_uri: str, in_thread: bool) -> None:
    child, port, tree = _start(model_uri, in_thread=in_thread, ending="time.sleep(120)")
    child.send_signal(signal.SIGKILL)
    child.wait()
    _wait_until_gone(tree, port)
    assert server_processes() == []


def test_interpreter_exit_stops_the_server(model_uri: str) -> None:
    """A script that forgets stop(): the server ends with the interpreter."""
    # The script ends when told to, once the test has seen its server up.
    child, port, tree = _start(model_uri, in_thread=False, ending="sys.stdin.readline()")
    assert child.stdin is not None
    child.stdin.write("\n")
    child.stdin.close()
    assert child.wait(timeout=30) == 0
    # atexit waited for the processes: they are gone already, not just dying.
    assert all(has_exited(p) for p in tree)
    assert not port_is_listening(port)


def test_dropping_the_last_reference_stops_the_server(model_uri: str) -> None:
    code = SERVE_AND_WAIT.format(
        uri=model_uri,
        in_thread=False,
        ending="import gc; del model; gc.collect(); print('dropped', flush=True); time.sleep(120)",
    )
    child, port, tree = serving_child(code)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "dropped"
        _wait_until_gone(tree, port, limit=0.5)
    finally:
        child.kill()
        child.wait()
