"""A "stop generating" button: another thread (a GUI, a web handler) closes the
stream that a worker thread is iterating."""

from __future__ import annotations

import asyncio
import threading

from conftest import (
    FULL_SLOT_TOKENS,
    in_flight,
    llama_server_of,
    released_replies,
    server_processes,
    settled,
    wait_sent,
    wait_until,
)
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel


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


def test_stop_button_pressed_while_the_prompt_is_read(model_uri: str) -> None:
    """The button comes before the first token (a long prompt, a busy
    server): the loop ends with nothing, and the server generates nothing
    for nobody. Here the server is frozen before it even reads the request."""
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        stream = model.stream("Tell me everything")  # no max_tokens: up to the context
        outcome: list[object] = []

        def worker() -> None:
            try:
                outcome.append(sum(1 for _ in stream))
            except BaseException as exc:
                outcome.append(exc)

        llama.suspend()
        try:
            thread = threading.Thread(target=worker)
            thread.start()
            assert wait_until(lambda: in_flight(model), timeout=60), "never sent"
            stream.close()  # the button
        finally:
            llama.resume()
        thread.join(timeout=120)
        assert outcome == [0]  # not a delta, and no error
        assert not stream.done and stream.finish_reason is None
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        # The server's own account: no reply filled the context.
        assert all(n < FULL_SLOT_TOKENS for n in released_replies(model)[released:])
    assert server_processes() == []


async def test_async_stop_button_pressed_while_the_prompt_is_read(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0) as model:
        await model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        stream = model.stream("Tell me everything")
        received: list[str] = []

        async def consume() -> None:
            async for delta in stream:
                received.append(delta)

        llama.suspend()
        try:
            task = asyncio.ensure_future(consume())
            await wait_sent(model)
            await stream.aclose()  # the button, from another task
        finally:
            llama.resume()
        await asyncio.wait_for(task, timeout=120)
        assert received == [] and not stream.done
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
        assert all(n < FULL_SLOT_TOKENS for n in released_replies(model)[released:])
