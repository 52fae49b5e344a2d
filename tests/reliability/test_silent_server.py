"""A server that falls silent in the middle of a reply (SIGSTOP to llama-server).

A served model's own calls travel over its pooled connections, streams
included: ``request_timeout`` is the longest silence each of them accepts,
and a reply that keeps coming is never cut off, however long it takes. The
server is frozen and thawed for real, so the tests do not depend on how fast
this machine generates.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import freeze_when_busy, llama_server_of, pace
from ramalama_sdk import APITimeoutError, RamalamaModel

SILENCE = 2.0  # request_timeout: the longest silence a call accepts


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, temp=0, request_timeout=SILENCE) as served:
        yield served


def test_a_stream_outlasting_request_timeout_runs_to_its_end(model: RamalamaModel) -> None:
    llama = llama_server_of(model)
    stream = model.stream("Go on", max_tokens=1500)
    first = threading.Event()

    def slow_down() -> None:
        # Silences of half request_timeout, 2.5 request_timeouts in all.
        if first.wait(60):
            pace(llama, SILENCE / 2, 5)

    pacer = threading.Thread(target=slow_down)
    pacer.start()
    try:
        for _ in stream:
            first.set()
    finally:
        first.set()
        pacer.join()
        llama.resume()
    assert stream.done and stream.finish_reason == "length"
    assert stream.usage.completion_tokens == 1500


def test_a_stream_whose_server_falls_silent_times_out(model: RamalamaModel) -> None:
    llama = llama_server_of(model)
    stream = model.stream("Go on", max_tokens=1500)
    try:
        with pytest.raises(APITimeoutError) as info:
            for _ in stream:
                llama.suspend()  # after the first delta: silent from now on
    finally:
        llama.resume()
    assert isinstance(info.value, TimeoutError)
    assert "request_timeout" in str(info.value)
    assert not stream.done
    assert model.is_running and model.chat("Hello", max_tokens=4)["role"] == "assistant"


def test_a_chat_whose_server_falls_silent_times_out(model: RamalamaModel) -> None:
    llama = llama_server_of(model)
    with ThreadPoolExecutor(1) as pool:
        freezer = pool.submit(freeze_when_busy, model, llama)
        try:
            with pytest.raises(APITimeoutError) as info:
                model.chat("Go on", max_tokens=1500)
        finally:
            freezer.result()
            llama.resume()
    assert "request_timeout" in str(info.value)
    assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
