"""AsyncRamalamaModel on the real stack."""

from __future__ import annotations

import asyncio
import logging

import pytest

from conftest import port_is_listening, server_processes
from ramalama_sdk import AsyncRamalamaModel, ChatMessage, ServerNotRunningError


async def test_async_with_block(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=8) as model:
        assert model.is_running
        port = model.port
        reply = await model.chat("Hello")
        assert reply["role"] == "assistant" and isinstance(reply["content"], str)
        history: list[ChatMessage] = [{"role": "system", "content": "Be brief."}]
        reply = await model.chat("How tall?", history)
        assert reply["role"] == "assistant"
        assert history == [{"role": "system", "content": "Be brief."}]
    assert port is not None and not port_is_listening(port)
    assert server_processes() == []


async def test_async_manual_lifecycle_and_chat_after_stop(model_uri: str) -> None:
    model = AsyncRamalamaModel(model=model_uri, max_tokens=4)
    with pytest.raises(RuntimeError):
        await model.chat("Hello")
    await model.download()
    await model.serve()
    try:
        await model.serve()  # already serving: no second server
        assert len([p for p in server_processes() if "llama-server" in p.name()]) == 1
        assert (await model.chat("Hello!"))["role"] == "assistant"
    finally:
        await model.stop()
    await model.stop()
    with pytest.raises(ServerNotRunningError):
        await model.chat("Hello")
    assert server_processes() == []


async def test_concurrent_chat_from_tasks(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=8) as model:
        replies = await asyncio.gather(*(model.chat(f"task {i}") for i in range(16)))
    assert len(replies) == 16
    assert all(r["role"] == "assistant" for r in replies)


async def test_serve_and_stop_never_block_the_event_loop(
    model_uri: str, caplog: pytest.LogCaptureFixture
) -> None:
    """asyncio's debug mode logs every callback that holds the loop too long."""
    loop = asyncio.get_running_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.1
    caplog.set_level(logging.WARNING, logger="asyncio")
    try:
        model = AsyncRamalamaModel(model=model_uri, max_tokens=4)
        await model.download()
        await model.serve()
        await model.chat("Hello")
        await model.stop()
    finally:
        loop.set_debug(False)
    slow = [r.getMessage() for r in caplog.records if "took" in r.getMessage()]
    assert slow == []


async def test_cancelled_serve_leaves_nothing_running(model_uri: str) -> None:
    model = AsyncRamalamaModel(model=model_uri)
    task = asyncio.create_task(model.serve())
    # Cancel while the server is being spawned or is loading.
    while not server_processes():
        await asyncio.sleep(0.005)
        if task.done():
            break
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not model.is_running
    assert server_processes() == []
