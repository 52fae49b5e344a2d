"""However the Python program that served ends, no server is left behind."""

from __future__ import annotations

import signal

import pytest

from conftest import port_is_listening, serving_child, wait_gone

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


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("in_thread", [False, True], ids=["main-thread", "other-thread"])
def test_no_server_survives_its_parent(
    model_uri: str, sig: signal.Signals, in_thread: bool
) -> None:
    child, port, tree = serving_child(SCRIPT.format(uri=model_uri, in_thread=in_thread))
    try:
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
