"""``cancel=CancelToken()``: one call stopped from another thread or task,
while the other calls of the same model go on.

As in test_cancel.py, the server's own log proves that generation stopped
(its slot is released after far fewer tokens than the reply asked for),
and no timing is assumed: the server is frozen (SIGSTOP) while the calls
are in flight, so the token's ``cancel()`` lands there however fast or
loaded the machine is. The server has two slots, so that two calls are
served side by side.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable

import pydantic
import pytest

from conftest import (
    busy,
    in_thread,
    llama_server_of,
    released_replies,
    settled,
    started_replies,
    wait_sent,
    wait_started,
    wait_until,
)
from ramalama_sdk import (
    ActOptions,
    AsyncRamalamaModel,
    CancelToken,
    ChatMessage,
    Completion,
    RamalamaModel,
    RamalamaRouter,
    RequestCancelledError,
)

LONG = "Tell me everything"
PROMPT: list[ChatMessage] = [{"role": "user", "content": LONG}]
# The call that is stopped asks for a reply that would run for a minute or
# more; the slot that served it is released long before (CUT_SHORT).
BIG_CONTEXT, BIG_REPLY, CUT_SHORT = 32_768, 30_000, 15_000
OTHER_REPLY = 32  # the call that goes on: at temperature 0 it runs to this
TWO_SLOTS = ["--parallel", "2"]
BY_TOKEN = "stopped by its CancelToken"


def assert_cut_short(model: object, released_before: int, count: int = 1) -> None:
    """The server released ``count`` more replies, every one cut short."""
    assert wait_until(lambda: len(released_replies(model)) >= released_before + count, 120)
    assert all(n < CUT_SHORT for n in released_replies(model)[released_before:])


def assert_stopped_by_token(outcome: list[object]) -> None:
    assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError), outcome
    assert BY_TOKEN in str(outcome[0])


def assert_whole(completion: object) -> None:
    """A reply that ran to its max_tokens: nothing stopped it."""
    assert isinstance(completion, Completion), completion
    assert completion.finish_reason == "length"
    assert completion.usage.completion_tokens == OTHER_REPLY


# -- two calls of one model: the token stops its own ------------------------


def test_a_token_stops_its_call_and_not_the_other(model_uri: str) -> None:
    with RamalamaModel(
        model=model_uri, temp=0, ctx_size=BIG_CONTEXT, runtime_args=TWO_SLOTS
    ) as model:
        model.chat("warm up", max_tokens=2)
        started, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        mine, theirs = CancelToken(), CancelToken()
        stopped, stopped_out = in_thread(
            lambda: model.chat(LONG, max_tokens=BIG_REPLY, cancel=mine)
        )
        wait_started(model, started)
        llama.suspend()  # the first reply is being generated
        try:
            other, other_out = in_thread(
                lambda: model.complete(PROMPT, max_tokens=OTHER_REPLY, cancel=theirs)
            )
            assert wait_until(lambda: busy(model) == 2, timeout=60), "never sent"
            assert mine.cancel() == 1  # from this thread, neither call's
        finally:
            llama.resume()
        stopped.join(timeout=120)
        other.join(timeout=120)
        assert_stopped_by_token(stopped_out)
        assert len(other_out) == 1
        assert_whole(other_out[0])
        assert mine.cancelled and not theirs.cancelled
        assert mine.cancel() == 0  # idempotent
        assert_cut_short(model, released, count=2)
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


async def test_async_one_token_stops_its_calls_and_not_the_other(model_uri: str) -> None:
    """One token given to two calls stops both, from another task; a third
    call with a token of its own goes on."""
    async with AsyncRamalamaModel(
        model=model_uri, temp=0, ctx_size=BIG_CONTEXT, runtime_args=TWO_SLOTS
    ) as model:
        await model.chat("warm up", max_tokens=2)
        started, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        shared, theirs = CancelToken(), CancelToken()
        chat = asyncio.ensure_future(model.chat(LONG, max_tokens=BIG_REPLY, cancel=shared))
        await asyncio.to_thread(wait_started, model, started)
        llama.suspend()
        try:
            text = asyncio.ensure_future(model.complete_text(LONG, cancel=shared))
            other = asyncio.ensure_future(
                model.complete(PROMPT, max_tokens=OTHER_REPLY, cancel=theirs)
            )
            await wait_sent(model, 3)
            assert shared.cancel() == 2
        finally:
            llama.resume()
        for stopped in (chat, text):
            with pytest.raises(RequestCancelledError, match=BY_TOKEN):
                await asyncio.wait_for(stopped, timeout=120)
        assert_whole(await asyncio.wait_for(other, timeout=120))
        assert not theirs.cancelled
        await asyncio.to_thread(assert_cut_short, model, released, 2)
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"


def test_one_token_stops_calls_of_two_models(model_uri: str) -> None:
    with (
        RamalamaModel(model=model_uri, temp=0) as first,
        RamalamaModel(model=model_uri, temp=0) as second,
    ):
        first.chat("warm up", max_tokens=2)
        second.chat("warm up", max_tokens=2)
        servers = [llama_server_of(first), llama_server_of(second)]
        token = CancelToken()
        for llama in servers:
            llama.suspend()  # before they read the requests
        try:
            calls = [
                in_thread(functools.partial(m.chat, LONG, cancel=token)) for m in (first, second)
            ]
            assert wait_until(lambda: busy(first) == busy(second) == 1, timeout=60)
            assert token.cancel() == 2
        finally:
            for llama in servers:
                llama.resume()
        for thread, outcome in calls:
            thread.join(timeout=120)
            assert_stopped_by_token(outcome)
        assert first.chat("Hello", max_tokens=4)["role"] == "assistant"
        assert second.chat("Hello", max_tokens=4)["role"] == "assistant"


# -- streams: stopped before their first byte ---------------------------------


def test_a_token_stops_one_stream_before_its_first_byte(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, runtime_args=TWO_SLOTS) as model:
        model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        mine = CancelToken()
        stopped = model.stream(LONG, cancel=mine)
        other = model.stream(LONG, max_tokens=OTHER_REPLY, cancel=CancelToken())
        llama.suspend()
        try:
            reading = [in_thread(functools.partial(list, s)) for s in (stopped, other)]
            assert wait_until(lambda: busy(model) == 2, timeout=60), "never sent"
            assert mine.cancel() == 1
        finally:
            llama.resume()
        for thread, _ in reading:
            thread.join(timeout=120)
        assert_stopped_by_token(reading[0][1])
        assert stopped.text == "" and not stopped.done
        assert other.done
        assert_whole(other.completion())
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        assert all(n < CUT_SHORT for n in released_replies(model)[released:])


async def test_async_a_token_stops_one_stream_before_its_first_byte(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0, runtime_args=TWO_SLOTS) as model:
        await model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        mine = CancelToken()
        stopped = model.stream_text(LONG, cancel=mine)
        other = model.stream(LONG, max_tokens=OTHER_REPLY, cancel=CancelToken())

        async def read(stream: object) -> list[str]:
            return [delta async for delta in stream]  # type: ignore[attr-defined]

        llama.suspend()
        try:
            tasks = [asyncio.ensure_future(read(s)) for s in (stopped, other)]
            await wait_sent(model, 2)
            assert mine.cancel() == 1  # from this task
        finally:
            llama.resume()
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            await asyncio.wait_for(tasks[0], timeout=120)
        await asyncio.wait_for(tasks[1], timeout=120)
        assert stopped.text == "" and not stopped.done
        assert other.done
        assert_whole(other.completion())
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
        assert all(n < CUT_SHORT for n in released_replies(model)[released:])


# -- act(): stopped between two rounds ----------------------------------------


ACT: ActOptions = {"tool_choice": "required", "max_tokens": 300, "seed": 7}


def test_a_token_stops_act_between_rounds(tools_uri: str) -> None:
    """The token is cancelled while a tool runs: the next round is never sent."""
    running, release = threading.Event(), threading.Event()

    def get_time() -> str:
        """The current time."""
        running.set()
        release.wait(timeout=120)
        return "12:00"

    with RamalamaModel(model=tools_uri) as model:
        started = started_replies(model)
        token = CancelToken()
        thread, outcome = in_thread(
            lambda: model.act("What time is it?", [get_time], cancel=token, **ACT)
        )
        assert running.wait(timeout=120), "the tool never ran"
        assert token.cancel() == 1
        release.set()
        thread.join(timeout=120)
        assert_stopped_by_token(outcome)
        assert started_replies(model) == started + 1  # the server's account: one round
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


async def test_async_a_token_stops_act_between_rounds_from_another_thread(
    tools_uri: str,
) -> None:
    running, release = asyncio.Event(), asyncio.Event()

    async def get_time() -> str:
        """The current time."""
        running.set()
        await release.wait()
        return "12:00"

    async with AsyncRamalamaModel(model=tools_uri) as model:
        started = started_replies(model)
        token = CancelToken()
        task = asyncio.ensure_future(model.act("What time is it?", [get_time], cancel=token, **ACT))
        await asyncio.wait_for(running.wait(), timeout=120)
        assert await asyncio.to_thread(token.cancel) == 1
        release.set()
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            await asyncio.wait_for(task, timeout=120)
        assert started_replies(model) == started + 1
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"


# -- a token already cancelled, a token that is not one -----------------------


class City(pydantic.BaseModel):
    name: str


def every_call(model: RamalamaModel, cancel: object) -> list[Callable[[], object]]:
    """Each call that takes ``cancel=``, given ``cancel``."""
    chat = model.conversation("Be brief.")
    kw: dict[str, object] = {"cancel": cancel}
    return [
        lambda: model.chat("Hi", max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: model.complete(PROMPT, max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: model.complete_text("Once", max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: list(model.stream("Hi", max_tokens=4, **kw)),  # type: ignore[arg-type]
        lambda: list(model.stream_text("Once", max_tokens=4, **kw)),  # type: ignore[arg-type]
        lambda: model.act("Hi", [], max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: model.parse("A city?", City, max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: chat.say("Hi", max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: list(chat.stream("Hi", max_tokens=4, **kw)),  # type: ignore[arg-type]
        lambda: chat.act("Hi", [], max_tokens=4, **kw),  # type: ignore[arg-type]
        lambda: model.classify("I love it", ["good", "bad"], **kw),  # type: ignore[arg-type]
        lambda: model.score("Is it?", **kw),  # type: ignore[arg-type]
    ]


def test_a_cancelled_token_stops_every_call_before_it_is_sent(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        started = started_replies(model)
        token = CancelToken()
        assert token.cancel() == 0 and token.cancelled
        for call in every_call(model, token):
            with pytest.raises(RequestCancelledError, match=BY_TOKEN):
                call()
        assert started_replies(model) == started  # the server began nothing
        assert model.cancel() == 0  # and no call was left behind
        # A token given to a call that has ended stops nothing later.
        done = CancelToken()
        assert model.chat("Hello", max_tokens=4, cancel=done)["role"] == "assistant"
        assert done.cancel() == 0


async def test_async_a_cancelled_token_stops_a_call_before_it_is_sent(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0) as model:
        await model.chat("warm up", max_tokens=2)
        started = started_replies(model)
        token = CancelToken()
        token.cancel()
        chat = model.conversation()
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            await model.chat("Hi", max_tokens=4, cancel=token)
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            model.stream("Hi", cancel=token)  # at once, before the loop
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            await chat.say("Hi", cancel=token)
        assert chat.history == []
        assert started_replies(model) == started
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"


@pytest.mark.parametrize("bad", ["yes", True, 1, threading.Event()])
def test_a_cancel_that_is_not_a_token_is_a_type_error(model_uri: str, bad: object) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        started = started_replies(model)
        for call in every_call(model, bad):
            with pytest.raises(TypeError, match="cancel must be a CancelToken or None"):
                call()
        assert started_replies(model) == started
        assert model.cancel() == 0
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


# -- the calls of several requests: classify() and embed() -------------------

LABELS = ["good", "bad", "neither"]  # one request (and one tokenize) per label


def test_a_token_stops_classify_and_no_label_after_it_is_asked(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        model.chat("warm up", max_tokens=2)
        started, _ = settled(model, 1)  # the warm-up's
        llama = llama_server_of(model)
        token = CancelToken()
        llama.suspend()  # the first request of classify() waits, unread
        try:
            thread, outcome = in_thread(lambda: model.classify("I love it", LABELS, cancel=token))
            assert wait_until(lambda: busy(model) == 1, timeout=60), "never sent"
            assert token.cancel() == 1
            thread.join(timeout=120)
        finally:
            llama.resume()
        assert len(outcome) == 1 and isinstance(outcome[0], RequestCancelledError), outcome
        assert BY_TOKEN in str(outcome[0])
        # The server began the next reply, and no label's before it.
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        assert settled(model, started + 1)[0] == started + 1
        assert model.classify("I love it", LABELS).label in LABELS  # and it works


async def test_async_cancel_stops_embed_between_its_batches(embedding_uri: str) -> None:
    texts = ["one", "two", "three", "four"]
    async with AsyncRamalamaModel(model=embedding_uri, embedding=True) as model:
        assert len(await model.embed(texts, batch_size=1)) == 4
        llama = llama_server_of(model)
        token = CancelToken()
        llama.suspend()  # the first batch waits, unread
        try:
            task = asyncio.ensure_future(model.embed(texts, batch_size=1, cancel=token))
            await wait_sent(model, 1)
            assert token.cancel() == 1
            with pytest.raises(RequestCancelledError, match=BY_TOKEN):
                await asyncio.wait_for(task, timeout=120)
        finally:
            llama.resume()
        assert len(await model.embed(texts, batch_size=1)) == 4  # it keeps working
        for bad in ("stop", 1):
            with pytest.raises(TypeError, match="cancel must be a CancelToken"):
                await model.embed("x", cancel=bad)  # type: ignore[call-overload]
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            await model.embed("x", cancel=token)  # already cancelled: nothing is sent
        assert model.cancel() == 0


def test_the_router_checks_cancel_before_anything() -> None:
    """The router passes ``cancel=`` on to its server's calls: checked before
    the router is even asked whether it runs (it is not started here: a
    router needs a container engine)."""
    router = RamalamaRouter(models=["tinyllama", "granite"])
    token = CancelToken()
    token.cancel()
    messages: list[ChatMessage] = [{"role": "user", "content": "Hi"}]
    calls: list[Callable[[object], object]] = [
        lambda c: router.chat("Hi", model="granite", cancel=c),  # type: ignore[arg-type]
        lambda c: router.complete(messages, model="granite", cancel=c),  # type: ignore[arg-type]
        lambda c: router.complete_text("Hi", model="granite", cancel=c),  # type: ignore[arg-type]
        lambda c: router.act("Hi", [], model="granite", cancel=c),  # type: ignore[arg-type]
        lambda c: router.parse("Hi", City, model="granite", cancel=c),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError, match="cancel must be a CancelToken"):
            call("stop")
        with pytest.raises(RequestCancelledError, match=BY_TOKEN):
            call(token)
