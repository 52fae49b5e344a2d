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

import pytest

from conftest import STREAM_ENDED, llama_server_of, pace
from ramalama_sdk import APITimeoutError, RamalamaModel

SILENCE = 4.0  # request_timeout: the longest silence a call accepts
FOLLOW_UP_TRIES = 5


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, temp=0, request_timeout=SILENCE) as served:
        yield served


def test_a_stream_outlasting_request_timeout_runs_to_its_end(model: RamalamaModel) -> None:
    llama = llama_server_of(model)
    stream = model.stream("Go on", max_tokens=1500)
    deltas = [0]
    # Silences of a quarter of request_timeout, 1.75 request_timeouts in all.
    pacer = threading.Thread(target=pace, args=(llama, SILENCE / 4, 7, lambda: deltas[0]))
    try:
        for _ in stream:
            deltas[0] += 1
            if deltas[0] == 1:
                pacer.start()
    finally:
        deltas[0] = STREAM_ENDED  # ended: the pacer stops waiting for more
        if pacer.is_alive():
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


@pytest.mark.parametrize("max_tokens", [32, 1500])  # one piece, and a stream
def test_a_chat_whose_server_is_silent_times_out(model: RamalamaModel, max_tokens: int) -> None:
    llama = llama_server_of(model)
    llama.suspend()
    try:
        with pytest.raises(APITimeoutError) as info:
            model.chat("Go on", max_tokens=max_tokens)
    finally:
        llama.resume()
    assert "request_timeout" in str(info.value)
    # The model keeps working. Thawed, the server first takes up the abandoned
    # request; on a loaded machine the next call can outlast request_timeout
    # behind it, once: a model whose connections were left broken would fail
    # every try.
    for attempt in range(FOLLOW_UP_TRIES):
        try:
            assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
            break
        except APITimeoutError:
            if attempt == FOLLOW_UP_TRIES - 1:
                raise
