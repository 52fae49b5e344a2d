"""Waiting has limits: a server that never gets ready, a reply that never comes."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from conftest import (
    STREAM_ENDED,
    llama_server_of,
    pace,
    server_processes,
    sleeping_llama_server,
)
from ramalama_sdk import APITimeoutError, AsyncRamalamaModel, RamalamaModel, ServerTimeoutError


def test_never_ready_times_out_and_leaves_nothing(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeping_llama_server(tmp_path, monkeypatch)
    model = RamalamaModel(model=model_uri, timeout=2)
    started = time.monotonic()
    with pytest.raises(ServerTimeoutError):
        model.serve()
    assert time.monotonic() - started >= 2
    assert not model.is_running
    assert server_processes() == []


async def test_async_never_ready_times_out(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeping_llama_server(tmp_path, monkeypatch)
    with pytest.raises(TimeoutError):
        await AsyncRamalamaModel(model=model_uri, timeout=1).serve()
    assert server_processes() == []


# The server is frozen (SIGSTOP) and thawed for real, so these tests do not
# depend on how fast this machine generates: a silence is a silence.
SILENCE = 4.0  # request_timeout: the longest silence a call accepts


def test_a_request_over_its_timeout_fails_and_the_model_stays_usable(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as served:
        llama = llama_server_of(served)
        assert served.base_url is not None
        model = RamalamaModel.connect(served.base_url, served.api_key, request_timeout=SILENCE)
        llama.suspend()  # silent from the start
        try:
            with pytest.raises(APITimeoutError) as info:
                model.chat("Go on", max_tokens=1500)
        finally:
            llama.resume()
        assert isinstance(info.value, TimeoutError)
        assert "request_timeout" in str(info.value)
        assert model.is_running
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        model.stop()


async def test_async_request_over_its_timeout(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as served:
        llama = llama_server_of(served)
        assert served.base_url is not None
        model = await AsyncRamalamaModel.connect(
            served.base_url, served.api_key, request_timeout=SILENCE
        )
        try:
            llama.suspend()  # silent from the start
            try:
                with pytest.raises(APITimeoutError):
                    await model.chat("Go on", max_tokens=1500)
            finally:
                llama.resume()
            assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
        finally:
            await model.stop()


async def test_streams_are_timed_per_read_not_in_total(model_uri: str) -> None:
    """request_timeout is the longest silence, sync and async alike: a stream
    that keeps producing tokens for longer than that is not cut off."""
    with RamalamaModel(model=model_uri, temp=0) as served:
        llama = llama_server_of(served)
        assert served.base_url is not None
        sync = RamalamaModel.connect(served.base_url, served.api_key, request_timeout=SILENCE)
        model = await AsyncRamalamaModel.connect(
            served.base_url, served.api_key, request_timeout=SILENCE
        )
        try:
            # Silences of a quarter of request_timeout, 1.75 request_timeouts in all.
            deltas = [0]
            stream = sync.stream("Go on", max_tokens=1500)
            pacer = threading.Thread(target=pace, args=(llama, SILENCE / 4, 7, lambda: deltas[0]))
            for _ in stream:
                deltas[0] += 1
                if deltas[0] == 1:
                    pacer.start()
            deltas[0] = STREAM_ENDED  # ended: the pacer stops waiting for more
            pacer.join()
            assert stream.done and stream.finish_reason == "length"
            adeltas = [0]
            astream = model.stream("Go on", max_tokens=1500)
            apacer = None
            async for _ in astream:
                adeltas[0] += 1
                if apacer is None:
                    apacer = asyncio.create_task(
                        asyncio.to_thread(pace, llama, SILENCE / 4, 7, lambda: adeltas[0])
                    )
            assert apacer is not None
            adeltas[0] = STREAM_ENDED
            await apacer
            assert astream.done and astream.finish_reason == "length"
        finally:
            llama.resume()
            sync.stop()
            await model.stop()
