"""llama-server dies under the SDK: calls fail fast and clearly, serve() recovers."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from conftest import llama_server_of, server_processes, started_replies, wait_started, wait_until
from ramalama_sdk import APIError, AsyncRamalamaModel, RamalamaModel, ServerNotRunningError

# A call that meets a dead server must fail within this, not wait for a timeout;
# generous for 2 busy cores.
FAIL_FAST = 10.0
# A reply that fills the slot's context (the tiny model's 2048 tokens: a second
# or two here); the kill comes as soon as a slot is busy, well before its end.
LONG_CTX = 32_768
LONG_TOKENS = 30_000


def _kill_when_busy(
    model: RamalamaModel | AsyncRamalamaModel, proc: psutil.Process, since: int
) -> float:
    """Kill ``proc`` once the server is generating, whenever that is; the time of the kill."""
    wait_started(model, since)
    proc.kill()
    return time.monotonic()


def test_killed_while_idle(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, max_tokens=4)
    with model:
        llama_server_of(model).kill()
        started = time.monotonic()
        with pytest.raises(ServerNotRunningError, match="has stopped"):
            model.chat("Hello")
        assert time.monotonic() - started < FAIL_FAST
        assert not model.is_running
        model.serve()  # the same object serves again
        assert model.is_running and model.chat("Hello")["role"] == "assistant"
    assert server_processes() == []


@pytest.mark.parametrize("call", ["chat", "stream"])
def test_killed_during_a_call(model_uri: str, call: str) -> None:
    model = RamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX)
    with model:
        llama = llama_server_of(model)
        with pytest.raises((ServerNotRunningError, APIError)) as info:
            if call == "chat":
                with ThreadPoolExecutor(1) as pool:
                    killer = pool.submit(_kill_when_busy, model, llama, started_replies(model))
                    try:
                        model.chat("Go on", max_tokens=LONG_TOKENS)
                    finally:
                        killed = killer.result()
            else:
                killed = math.inf
                for _ in model.stream("Go on", max_tokens=LONG_TOKENS):
                    if killed == math.inf:  # once: deltas already sent may still come
                        llama.kill()
                        killed = time.monotonic()
        assert time.monotonic() - killed < FAIL_FAST
        assert isinstance(info.value, ServerNotRunningError) or "connection" in str(info.value)
        assert wait_until(lambda: not model.is_running)
        model.serve()
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
    assert server_processes() == []


async def test_async_killed_during_chat_and_stream(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX) as model:
        for call in ("chat", "stream"):
            llama = llama_server_of(model)
            with pytest.raises((ServerNotRunningError, APIError)):
                if call == "chat":
                    since = started_replies(model)
                    killer = asyncio.create_task(
                        asyncio.to_thread(_kill_when_busy, model, llama, since)
                    )
                    try:
                        await model.chat("Go on", max_tokens=LONG_TOKENS)
                    finally:
                        killed = await killer
                else:
                    killed = math.inf
                    async for _ in model.stream("Go on", max_tokens=LONG_TOKENS):
                        if killed == math.inf:  # once: deltas already sent may still come
                            llama.kill()
                            killed = time.monotonic()
            assert time.monotonic() - killed < FAIL_FAST
            for _ in range(500):  # the supervisor notices the death within moments
                if not model.is_running:
                    break
                await asyncio.sleep(0.02)
            assert not model.is_running
            await model.serve()
            assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
    assert server_processes() == []
