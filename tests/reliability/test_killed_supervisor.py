"""Someone runs ``kill <ramalama pid>`` (a process monitor, an impatient user).

ramalama dies alone on SIGTERM and leaves llama-server serving as an orphan
of the same process group. The model must see that its server is gone, and
nothing of the group may go on serving.
"""

from __future__ import annotations

import psutil

from conftest import has_exited, server_processes, wait_gone, wait_until
from ramalama_sdk import RamalamaModel


def test_killing_ramalama_alone_stops_the_whole_server(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, max_tokens=4)
    model.serve()
    try:
        server = model._server
        assert server is not None and server.popen is not None
        ramalama = psutil.Process(server.popen.pid)
        tree = [ramalama, *ramalama.children(recursive=True)]
        assert len(tree) >= 2
        ramalama.terminate()
        assert wait_until(lambda: not model.is_running)
        assert wait_gone(tree, timeout=5) == []
    finally:
        model.stop()
    assert server_processes() == []


def test_stop_after_ramalama_died_waits_for_llama_server(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, max_tokens=4)
    model.serve()
    server = model._server
    assert server is not None and server.popen is not None
    ramalama = psutil.Process(server.popen.pid)
    tree = [ramalama, *ramalama.children(recursive=True)]
    ramalama.terminate()
    assert wait_until(lambda: has_exited(ramalama))
    model.stop()  # without asking is_running first
    assert wait_gone(tree, timeout=0) == []
    assert server_processes() == []
