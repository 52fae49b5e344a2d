"""``model.cancel()`` from another thread or task: a call in flight stops.

The server's own log is the proof that generation stopped: its slot is
released (``slot release ... n_tokens = N``) with fewer tokens than a reply
that runs to its end (the tiny model fills its 2048-token context). No
timing is assumed: the server is frozen (SIGSTOP) at the moment that
matters, so the cancel always lands there, however fast or loaded the
machine is.
"""

from __future__ import annotations

import asyncio
import threading

import pydantic
import pytest

from conftest import (
    FULL_SLOT_TOKENS,
    in_flight,
    in_thread,
    llama_server_of,
    released_replies,
    server_processes,
    settled,
    started_replies,
    wait_sent,
    wait_started,
    wait_until,
)
from ramalama_sdk import (
    ActOptions,
    AsyncRamalamaModel,
    RamalamaError,
    RamalamaModel,
    RequestCancelledError,
)

LONG = "Tell me everything"  # no max_tokens: the reply would fill the context
# For a cancel mid-reply: the server is frozen once its log shows the reply
# began. A reply that would run for a minute (not the 1-4 s of a 2048-token
# context here) leaves no chance that it ends before the freeze, on a loaded
# machine too. Once resumed, llama-server's generating loop runs on until its
# HTTP thread finds the connection closed, which a busy machine can delay by
# a few thousand tokens of the tiny model; a reply cut short is still released
# well before half of its way (CUT_SHORT).
BIG_CONTEXT, BIG_REPLY, CUT_SHORT = 32_768, 30_000, 15_000


def assert_cut_short(model: object, released_before: int) -> None:
    """The server released every reply since ``released_before`` early."""
    assert wait_until(lambda: len(released_replies(model)) > released_before, timeout=120)
    assert all(n < CUT_SHORT for n in released_replies(model)[released_before:])


def test_cancel_with_nothing_in_flight_is_a_no_op(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        assert model.cancel() == 0
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        stream = model.stream("Hello", max_tokens=4)
        assert "".join(stream) == stream.text and stream.done
        assert model.cancel() == 0  # a stream read to its end is not in flight
        assert stream.done


def test_cancel_stops_a_long_chat_from_another_thread(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, ctx_size=BIG_CONTEXT) as model:
        model.chat("warm up", max_tokens=2)
        started, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        thread, outcome = in_thread(lambda: model.chat(LONG, max_tokens=BIG_REPLY))
        wait_started(model, started)
        llama.suspend()  # generating: the cancel lands mid-reply
        try:
            assert model.cancel() == 1
        finally:
            llama.resume()
        thread.join(timeout=120)
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError)
        assert isinstance(outcome[0], RamalamaError)
        assert_cut_short(model, released)
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
    assert server_processes() == []


def test_cancel_stops_a_short_chat_before_the_first_byte(model_uri: str) -> None:
    """A reply kept short by max_tokens comes in one piece (not streamed):
    cancel() reaches it too, on the kept-alive connection it was sent on."""
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        llama = llama_server_of(model)
        llama.suspend()  # before it reads the request
        try:
            thread, outcome = in_thread(lambda: model.chat("Hi", max_tokens=16))
            assert wait_until(lambda: in_flight(model), timeout=60), "never sent"
            assert model.cancel() == 1
            thread.join(timeout=120)
        finally:
            llama.resume()
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError)
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


def test_cancel_stops_a_stream_before_its_first_byte(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        stream = model.stream(LONG)
        llama.suspend()
        try:
            thread, outcome = in_thread(lambda: [delta for delta in stream])
            assert wait_until(lambda: in_flight(model), timeout=60), "never sent"
            assert model.cancel() == 1
        finally:
            llama.resume()
        thread.join(timeout=120)
        # Unlike close(), which ends the loop quietly, cancel() is an error.
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError)
        assert stream.text == "" and not stream.done
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        assert all(n < FULL_SLOT_TOKENS for n in released_replies(model)[released:])


async def test_async_cancel_stops_a_long_chat_from_another_task(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0, ctx_size=BIG_CONTEXT) as model:
        await model.chat("warm up", max_tokens=2)
        started, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        task = asyncio.ensure_future(model.chat(LONG, max_tokens=BIG_REPLY))
        await asyncio.to_thread(wait_started, model, started)
        llama.suspend()
        try:
            assert model.cancel() == 1  # from this task, not the chat's
        finally:
            llama.resume()
        with pytest.raises(RequestCancelledError):
            await asyncio.wait_for(task, timeout=120)
        await asyncio.to_thread(assert_cut_short, model, released)
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"


async def test_async_cancel_from_another_thread(model_uri: str) -> None:
    """A GUI thread presses the button of a model that lives in an event loop."""
    async with AsyncRamalamaModel(model=model_uri, temp=0, ctx_size=BIG_CONTEXT) as model:
        await model.chat("warm up", max_tokens=2)
        started, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        task = asyncio.ensure_future(
            model.complete([{"role": "user", "content": LONG}], max_tokens=BIG_REPLY)
        )
        await asyncio.to_thread(wait_started, model, started)
        llama.suspend()
        try:
            assert await asyncio.to_thread(model.cancel) == 1
        finally:
            llama.resume()
        with pytest.raises(RequestCancelledError):
            await asyncio.wait_for(task, timeout=120)
        await asyncio.to_thread(assert_cut_short, model, released)
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"


async def test_async_cancel_stops_a_stream_before_its_first_byte(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0) as model:
        await model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        stream = model.stream(LONG)
        received: list[str] = []

        async def consume() -> None:
            async for delta in stream:
                received.append(delta)

        llama.suspend()
        try:
            task = asyncio.ensure_future(consume())
            await wait_sent(model)
            assert model.cancel() == 1
        finally:
            llama.resume()
        with pytest.raises(RequestCancelledError):
            await asyncio.wait_for(task, timeout=120)
        assert received == [] and not stream.done
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
        assert all(n < FULL_SLOT_TOKENS for n in released_replies(model)[released:])


# -- act(): cancelled between two rounds ------------------------------------


ACT: ActOptions = {"tool_choice": "required", "max_tokens": 300, "seed": 7}


def test_cancel_between_the_rounds_of_act(tools_uri: str) -> None:
    """cancel() while a tool runs: the next round is never sent."""
    running, release = threading.Event(), threading.Event()

    def get_time() -> str:
        """The current time."""
        running.set()
        release.wait(timeout=120)
        return "12:00"

    with RamalamaModel(model=tools_uri) as model:
        started = started_replies(model)
        thread, outcome = in_thread(lambda: model.act("What time is it?", [get_time], **ACT))
        assert running.wait(timeout=120), "the tool never ran"
        assert model.cancel() == 1
        release.set()
        thread.join(timeout=120)
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError)
        # The server's account: the first round only.
        assert started_replies(model) == started + 1
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


async def test_async_cancel_between_the_rounds_of_act(tools_uri: str) -> None:
    running, release = asyncio.Event(), asyncio.Event()

    async def get_time() -> str:
        """The current time."""
        running.set()
        await release.wait()
        return "12:00"

    async with AsyncRamalamaModel(model=tools_uri) as model:
        started = started_replies(model)
        task = asyncio.ensure_future(model.act("What time is it?", [get_time], **ACT))
        await asyncio.wait_for(running.wait(), timeout=120)
        assert model.cancel() == 1
        release.set()
        with pytest.raises(RequestCancelledError):
            await asyncio.wait_for(task, timeout=120)
        assert started_replies(model) == started + 1
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"


# -- parse() and complete_text(): cancelled before the first byte -------------


class Story(pydantic.BaseModel):
    text: str


def test_cancel_stops_parse(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        llama = llama_server_of(model)
        llama.suspend()
        try:
            thread, outcome = in_thread(lambda: model.parse(LONG, Story, retries=2))
            assert wait_until(lambda: in_flight(model), timeout=60), "never sent"
            assert model.cancel() == 1
            thread.join(timeout=120)
        finally:
            llama.resume()
        # Not a ParseError after retries: the call stopped at its first request.
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError)
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


async def test_async_cancel_stops_complete_text(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0) as model:
        await model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        llama.suspend()
        try:
            task = asyncio.ensure_future(model.complete_text("Once upon a time"))
            await wait_sent(model)
            assert model.cancel() == 1
        finally:
            llama.resume()
        with pytest.raises(RequestCancelledError):
            await asyncio.wait_for(task, timeout=120)
        # Uncut, this text fills the context (2035 tokens here).
        await asyncio.to_thread(assert_cut_short, model, released)
        assert (await model.complete_text("Hello", max_tokens=4)).text is not None


def test_cancel_during_the_first_round_of_act(tools_uri: str) -> None:
    """cancel() while the server reads the first round: no tool ever runs."""
    ran: list[str] = []

    def get_time() -> str:
        """The current time."""
        ran.append("get_time")
        return "12:00"

    with RamalamaModel(model=tools_uri) as model:
        model.chat("warm up", max_tokens=2)
        llama = llama_server_of(model)
        llama.suspend()
        try:
            thread, outcome = in_thread(lambda: model.act("What time is it?", [get_time], **ACT))
            assert wait_until(lambda: in_flight(model), timeout=60), "never sent"
            assert model.cancel() == 1
            thread.join(timeout=120)
        finally:
            llama.resume()
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError)
        assert ran == []
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
