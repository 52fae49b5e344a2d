"""A long-running service: a model serving for days, a request every second.

llama-server logs ~820 bytes per request. The log is an unlinked file (RAM on
a tmpfs, invisible to du): it must stay bounded, and logs() must still give
the latest lines.
"""

from __future__ import annotations

import os

import pytest

from ramalama_sdk import RamalamaModel
from ramalama_sdk.process import supervisor


def test_the_server_log_stays_bounded(model_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The service's millions of requests, scaled down: trim from 64 KiB on.
    monkeypatch.setattr(supervisor, "_LOG_TRIM_AT", 64 * 1024)
    bound = supervisor._LOG_TAIL_BYTES * 2 + supervisor._LOG_TRIM_AT + 64 * 1024
    with RamalamaModel(model=model_uri, max_tokens=2) as model:
        server = model._server
        assert server is not None
        fd = server.log.handle.fileno()
        while os.fstat(fd).st_size < 2 * bound:
            model.chat("Hello")
        used = os.fstat(fd).st_blocks * 512
        assert used < bound, f"{used} bytes held by a log of {os.fstat(fd).st_size}"
        lines = model.logs(tail=10)
        assert len(lines) == 10 and all("\0" not in line for line in lines)
        assert any("stop processing" in line for line in lines)  # the latest request
