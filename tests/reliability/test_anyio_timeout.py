"""anyio (FastAPI, Starlette) cancels every await inside a cancelled scope.

A timeout around ``async with model:`` therefore cancels ``stop()`` in
``__aexit__`` at each of its awaits, not once as asyncio's own timeout does.
The stop must happen all the same.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from conftest import server_processes, wait_gone
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
