"""Waiting has limits: a server that never gets ready, a reply that never comes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from conftest import busy_slots, server_processes, sleeping_llama_server, wait_until
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


# The budgets below come from the speed measured in the same run, so that a
# loaded machine (where everything is slower) makes them longer, never red.
LONG_CTX = 32_768  # room for a reply that takes the tiny model many seconds


def _budget(model: RamalamaModel) -> float:
    """A request_timeout that a short reply meets with a wide margin."""
    started = time.monotonic()
    model.chat("Hello", max_tokens=4)
    return min(5.0, max(1.0, 20 * (time.monotonic() - started)))


def test_a_request_over_its_timeout_fails_and_the_model_stays_usable(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX) as served:
        budget = _budget(served)
        assert served.base_url is not None
        model = RamalamaModel.connect(served.base_url, served.api_key, request_timeout=budget)
        with pytest.raises(APITimeoutError) as info:
            model.chat("Go on", max_tokens=LONG_CTX)  # silent until the whole reply
        assert isinstance(info.value, TimeoutError)
        assert "request_timeout" in str(info.value)
        assert model.is_running
        # The abandoned reply is not generated on: its connection was closed.
        assert wait_until(lambda: busy_slots(served) == 0, timeout=30)
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        model.stop()


async def test_async_request_over_its_timeout(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX) as served:
        budget = _budget(served)
        assert served.base_url is not None
        model = await AsyncRamalamaModel.connect(
            served.base_url, served.api_key, request_timeout=budget
        )
        try:
            with pytest.raises(APITimeoutError):
                await model.chat("Go on", max_tokens=LONG_CTX)
            assert await asyncio.to_thread(wait_until, lambda: busy_slots(served) == 0, 30)
            assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
        finally:
            await model.stop()


async def test_streams_are_timed_per_read_not_in_total(model_uri: str) -> None:
    """request_timeout is the longest silence, sync and async alike: a stream
    that keeps producing tokens for longer than that is not cut off."""
    with RamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX) as served:
        budget = _budget(served)
        started = time.monotonic()
        rate = served.complete(
            [{"role": "user", "content": "Count"}], max_tokens=200
        ).usage.completion_tokens / (time.monotonic() - started)
        tokens = min(LONG_CTX // 2, int(rate * 2 * budget) + 1)
        assert served.base_url is not None
        sync = RamalamaModel.connect(served.base_url, served.api_key, request_timeout=budget)
        model = await AsyncRamalamaModel.connect(
            served.base_url, served.api_key, request_timeout=budget
        )
        try:
            # About twice request_timeout of steady output each.
            stream = sync.stream("Go on", max_tokens=tokens)
            for _ in stream:
                pass
            assert stream.done and stream.finish_reason == "length"
            astream = model.stream("Go on", max_tokens=tokens)
            async for _ in astream:
                pass
            assert astream.done and astream.finish_reason == "length"
        finally:
            sync.stop()
            await model.stop()
