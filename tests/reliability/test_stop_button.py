"""A "stop generating" button: another thread (a GUI, a web handler) closes the
stream that a worker thread is iterating."""

from __future__ import annotations

import threading

from conftest import server_processes
from ramalama_sdk import RamalamaModel


def test_close_from_another_thread_ends_the_loop_quietly(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, ctx_size=32_768) as model:
        stream = model.stream("Tell me everything", max_tokens=30_000)
        first = threading.Event()
        outcome: list[object] = []

        def worker() -> None:
            try:
                for _ in stream:
                    first.set()
                outcome.append("ended")
            except BaseException as exc:
                outcome.append(exc)
            finally:
                first.set()

        thread = threading.Thread(target=worker)
        thread.start()
        assert first.wait(timeout=30)
        stream.close()  # the button
        thread.join(timeout=30)
        assert outcome == ["ended"]
        assert not stream.done and stream.finish_reason is None
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
    assert server_processes() == []
