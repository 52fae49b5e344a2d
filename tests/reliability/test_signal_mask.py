"""A program that blocks its signals and waits for them (block-then-sigwait()).

That shutdown pattern blocks SIGINT and SIGTERM in every thread. Children
inherit the mask: a ramalama with SIGINT blocked never acts on the
parent-death SIGINT, and would outlive a killed program.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import psutil

from conftest import port_is_listening, wait_gone

SCRIPT = """
import signal
signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGINT, signal.SIGTERM}})
from ramalama_sdk import RamalamaModel

model = RamalamaModel(model={uri!r})
model.serve()
print(model.port, model._server.popen.pid, flush=True)
signal.sigwait({{signal.SIGINT, signal.SIGTERM}})
"""


def test_blocked_signals_do_not_reach_the_server(model_uri: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(uri=model_uri)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=30)[1]
        port, ramalama_pid = (int(x) for x in line.split())
        root = psutil.Process(ramalama_pid)
        tree = [root, *root.children(recursive=True)]
        blocked = int(
            next(
                row.split()[1]
                for row in Path(f"/proc/{ramalama_pid}/status").read_text().splitlines()
                if row.startswith("SigBlk:")
            ),
            16,
        )
        assert blocked & (1 << (signal.SIGINT - 1)) == 0
        child.kill()  # the program dies without a chance to clean up
        child.wait(timeout=30)
        assert wait_gone(tree, timeout=5) == []
        assert not port_is_listening(port)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
