"""gunicorn --preload: the model is served before the workers are forked.

Each worker inherits the model object (its server handle, its connections,
its finalizer) and chats with the parent's server; workers exit normally and
are replaced (--max-requests). The server belongs to the process that served
it: a worker's exit must not stop it, and a worker must not misread the
server's state. The workers here are made with os.fork(), as gunicorn makes
them; gunicorn itself adds nothing that the SDK sees.
"""

from __future__ import annotations

import json

from conftest import run_python, server_processes

SCRIPT = """
import json, os, sys
from ramalama_sdk import RamalamaModel

model = RamalamaModel(model={uri!r}, max_tokens=4)
model.serve()
model.chat("parent warms up its connections")
results = []
for worker in range(3):
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the worker: chats, then exits as a recycled worker does
        os.close(reader)
        try:
            reply = model.chat("Hello from a worker")["role"]
            running = model.is_running
        except Exception as exc:
            reply, running = f"{{type(exc).__name__}}: {{exc}}", None
        os.write(writer, json.dumps([reply, running]).encode())
        os.close(writer)
        sys.exit(0)  # a normal exit: atexit handlers and finalizers run
    os.close(writer)
    with os.fdopen(reader) as pipe:
        worker_said = json.loads(pipe.read() or "null")
    os.waitpid(pid, 0)
    try:
        parent = model.chat("Hello from the parent")["role"]
    except Exception as exc:
        parent = f"{{type(exc).__name__}}: {{exc}}"
    results.append([worker_said, parent, model.is_running])
model.stop()
print(json.dumps(results), flush=True)
"""


def test_forked_workers_share_the_server_and_never_stop_it(model_uri: str) -> None:
    child = run_python(SCRIPT.format(uri=model_uri))
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    results = json.loads(out.strip().splitlines()[-1])
    for worker_said, parent, running in results:
        assert worker_said == ["assistant", True]
        assert parent == "assistant"
        assert running is True
    assert server_processes() == []
