"""llama-server dies under the SDK: calls fail fast and clearly, serve() recovers."""

from __future__ import annotations

import asyncio
import threading
import time

import psutil
import pytest

from conftest import server_processes
from ramalama_sdk import (
    APIError,
    AsyncRamalamaModel,
    RamalamaModel,
    ServerNotRunningError,
)

# A call that meets a dead server must fail within this; generous for 2 busy cores.
FAIL_FAST = 1.0


def _llama_server(model: RamalamaModel | AsyncRamalamaModel) -> psutil.Process:
    server = model._server
    assert server is not None and server.popen is not None
    (llama,) = [
        p
        for p in psutil.Process(server.popen.pid).children(recursive=True)
        if p.name().startswith("llama-server")
    ]
    return llama


def _kill_after(proc: psutil.Process, delay: float) -> threading.Thread:
    def kill() -> None:
        time.sleep(delay)
        proc.kill()

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


def test_killed_while_idle(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, max_tokens=4)
    with model:
        _llama_server(model).kill()
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
    model = RamalamaModel(model=model_uri, temp=0)
    with model:
        killer = _kill_after(_llama_server(model), 0.3)
        started = time.monotonic()
        with pytest.raises((ServerNotRunningError, APIError)) as info:
            if call == "chat":
                model.chat("Go on", max_tokens=200_000)
            else:
                for _ in model.stream("Go on", max_tokens=200_000):
                    pass
        killer.join()
        assert time.monotonic() - started < 0.3 + FAIL_FAST
        assert isinstance(info.value, ServerNotRunningError) or "connection" in str(info.value)
        time.sleep(0.2)
        assert not model.is_running
        model.serve()
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
    assert server_processes() == []


async def test_async_killed_during_chat_and_stream(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0) as model:
        for call in ("chat", "stream"):
            llama = _llama_server(model)
            asyncio.get_running_loop().call_later(0.3, llama.kill)
            started = time.monotonic()
            with pytest.raises((ServerNotRunningError, APIError)):
                if call == "chat":
                    await model.chat("Go on", max_tokens=200_000)
                else:
                    async for _ in model.stream("Go on", max_tokens=200_000):
                        pass
            assert time.monotonic() - started < 0.3 + FAIL_FAST
            await asyncio.sleep(0.2)
            assert not model.is_running
            await model.serve()
            assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
    assert server_processes() == []
