"""anyio (FastAPI, Starlette) cancels every await inside a cancelled scope.

A timeout around ``async with model:`` therefore cancels ``stop()`` in
``__aexit__`` at each of its awaits, not once as asyncio's own timeout does.
The stop must happen all the same.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from conftest import (
    FULL_SLOT_TOKENS,
    freeze_when_busy,
    llama_server_of,
    released_replies,
    server_processes,
    started_replies,
    wait_gone,
    wait_until,
)
from ramalama_sdk import AsyncRamalamaModel


async def _processes_gone(timeout: float = 10) -> bool:
    return await asyncio.to_thread(lambda: wait_gone(server_processes(), timeout) == [])


async def test_timeout_around_async_with_stops_the_server(model_uri: str) -> None:
    model = AsyncRamalamaModel(model=model_uri, max_tokens=4)
    with anyio.move_on_after(30) as scope:
        async with model:
            assert (await model.chat("Hello"))["role"] == "assistant"
            scope.deadline = anyio.current_time()  # the timeout expires here
            await anyio.sleep(5)
    assert scope.cancelled_caught
    assert not model.is_running
    assert await _processes_gone()
    await model.stop()  # and a later stop has nothing left to do


@pytest.mark.parametrize("cancel_at", [0, 1, 2, 5])
async def test_stop_cancelled_at_any_await_leaves_nothing(model_uri: str, cancel_at: int) -> None:
    model = AsyncRamalamaModel(model=model_uri)
    await model.serve()
    async with anyio.create_task_group() as group:
        group.start_soon(model.stop)
        for _ in range(cancel_at):
            await anyio.sleep(0)
        group.cancel_scope.cancel()
    assert not model.is_running
    assert await _processes_gone()


BIG_CONTEXT, BIG_REPLY = 32_768, 30_000


@pytest.mark.parametrize("call", ["chat", "complete_text"])
async def test_a_cancelled_long_chat_stops_the_generation(model_uri: str, call: str) -> None:
    """A cancelled ``await model.chat()`` (an anyio timeout, a closed web
    request) whose reply may be long closes its stream, and llama-server
    stops generating the reply instead of filling the context for nobody."""
    # A context far larger than one reply at this model's speed: the freeze
    # comes mid-reply even when the watcher is slow to see it begin.
    async with AsyncRamalamaModel(model=model_uri, temp=0, ctx_size=BIG_CONTEXT) as model:
        released, since = len(released_replies(model)), started_replies(model)
        llama = llama_server_of(model)
        try:
            async with anyio.create_task_group() as group:
                if call == "chat":
                    group.start_soon(lambda: model.chat("Go on", max_tokens=BIG_REPLY))
                else:
                    group.start_soon(
                        lambda: model.complete_text("Once upon a time", max_tokens=BIG_REPLY)
                    )
                # Mid-reply, whatever this machine's speed: frozen once it generates.
                await asyncio.to_thread(freeze_when_busy, model, llama, since)
                group.cancel_scope.cancel()
        finally:
            llama.resume()
        assert await asyncio.to_thread(
            wait_until, lambda: len(released_replies(model)) > released, 60
        )
        assert released_replies(model)[-1] < FULL_SLOT_TOKENS  # cut short
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
