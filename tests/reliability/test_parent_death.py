"""However the Python program that served ends, no server is left behind."""

from __future__ import annotations

import signal
import subprocess
import sys

import psutil
import pytest

from conftest import port_is_listening, wait_gone

SCRIPT = """
import signal, sys, threading, time
from ramalama_sdk import RamalamaModel

model = None

def serve():
    global model
    model = RamalamaModel(model={uri!r})
    model.serve()

if {in_thread}:
    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
else:
    serve()
print(model.port, model._server.popen.pid, flush=True)
time.sleep(120)
"""


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "other-thread"])
def test_no_server_survives_its_parent(
    model_uri: str, sig: signal.Signals, in_thread: bool
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(uri=model_uri, in_thread=in_thread)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=30)[1]
        port, ramalama_pid = (int(x) for x in line.split())
        tree = _tree(ramalama_pid)
        assert any(p.name().startswith("llama-server") for p in tree)
        child.send_signal(sig)
        child.wait(timeout=30)
        alive = wait_gone(tree, timeout=5)
        assert alive == [], f"alive 5 s after {sig.name}: {alive}"
        assert not port_is_listening(port)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
