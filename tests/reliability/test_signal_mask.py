"""A program that blocks its signals and waits for them (block-then-sigwait()).

That shutdown pattern blocks SIGINT and SIGTERM in every thread. Children
inherit the mask: a ramalama with SIGINT blocked never acts on the
parent-death SIGINT, and would outlive a killed program.
"""

from __future__ import annotations

import signal
from pathlib import Path

from conftest import port_is_listening, serving_child, wait_gone

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
    child, port, tree = serving_child(SCRIPT.format(uri=model_uri))
    try:
        blocked = int(
            next(
                row.split()[1]
                for row in Path(f"/proc/{tree[0].pid}/status").read_text().splitlines()
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
