"""A thread-per-request server: every request is a new thread that chats once.

The threads end, the model object stays. Its kept-alive connections must
not pile up with the threads (one socket each, until the process runs out
of file descriptors), and a stop() racing a request must say what happened.
"""

from __future__ import annotations

import threading

import pytest

from conftest import (
    in_flight,
    in_thread,
    llama_server_of,
    server_processes,
    sockets_to,
    wait_until,
)
from ramalama_sdk import RamalamaModel, ServerNotRunningError
from ramalama_sdk.http.connections import DEFAULT_MAXSIZE


def test_threads_that_end_leave_no_sockets_behind(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, max_tokens=2) as model:
        assert model.port is not None
        errors: list[BaseException] = []

        def request() -> None:
            try:
                model.chat("Hello")
            except BaseException as exc:
                errors.append(exc)

        for _ in range(8):  # 8 waves of 25 threads: 200 threads in all
            threads = [threading.Thread(target=request) for _ in range(25)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert errors == []
        assert sockets_to(model.port) <= DEFAULT_MAXSIZE
    assert server_processes() == []


def test_stop_racing_a_chat_says_the_model_was_stopped(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, temp=0)
    model.serve()
    model.chat("warm up", max_tokens=2)

    # The reply cannot end before the stop, however fast this machine: the
    # server is frozen (SIGSTOP; the stop's SIGKILL still ends it).
    llama_server_of(model).suspend()
    thread, outcome = in_thread(lambda: model.chat("Go on", max_tokens=1500))
    assert wait_until(lambda: in_flight(model))  # sent
    model.stop()
    thread.join(timeout=30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], ServerNotRunningError)
    assert "was stopped" in str(outcome[0])
    with pytest.raises(ServerNotRunningError):
        model.chat("Hello")
    assert server_processes() == []
