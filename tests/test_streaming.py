"""stream(), complete() and per-call options on the real stack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import pydantic
import pytest

from conftest import FULL_SLOT_TOKENS, released_replies, served_fixtures, wait_until
from ramalama_sdk import (
    APIError,
    AsyncRamalamaModel,
    ChatMessage,
    Completion,
    RamalamaModel,
    ServerNotRunningError,
)
from ramalama_sdk.http.streaming import SSEDecoder, StreamState

model, amodel = served_fixtures("model_uri", max_tokens=32)


def test_stream_yields_deltas_then_the_whole_reply(model: RamalamaModel) -> None:
    stream = model.stream("Tell me a story", max_tokens=12, temperature=0)
    deltas = list(stream)
    assert deltas and all(isinstance(d, str) and d for d in deltas)
    assert stream.done
    assert stream.message == {"role": "assistant", "content": "".join(deltas)}
    assert stream.finish_reason in ("stop", "length")
    assert stream.usage.completion_tokens >= len(deltas)
    assert stream.usage.prompt_tokens > 0
    # The same request without streaming gives the same greedy reply.
    assert model.chat("Tell me a story", max_tokens=12, temperature=0) == stream.message


def test_a_stream_is_iterated_once(model: RamalamaModel) -> None:
    stream = model.stream("Hi", max_tokens=2)
    list(stream)
    with pytest.raises(RuntimeError, match="once"):
        list(stream)


def test_breaking_off_a_stream_stops_generation(model: RamalamaModel) -> None:
    released = len(released_replies(model))
    for index, _ in enumerate(model.stream("Go on", max_tokens=4000, temperature=0)):
        if index == 2:
            break
    # The server noticed the closed connection and stopped the reply early ...
    assert wait_until(lambda: len(released_replies(model)) > released, 60)
    assert released_replies(model)[-1] < FULL_SLOT_TOKENS
    # ... and answers the next request at once.
    assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


def test_an_exception_inside_the_loop_closes_the_stream(model: RamalamaModel) -> None:
    stream = model.stream("Go on", max_tokens=4000, temperature=0)
    with pytest.raises(KeyError):
        for _ in stream:
            raise KeyError("user code failed")
    assert not stream.done
    assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


def test_complete_returns_usage_and_timings(model: RamalamaModel) -> None:
    messages: list[ChatMessage] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    result = model.complete(messages, max_tokens=5, temperature=0, seed=7)
    assert isinstance(result, Completion)
    assert result.message["role"] == "assistant"
    assert result.finish_reason in ("stop", "length")
    assert 0 < result.usage.completion_tokens <= 5
    assert result.usage.total_tokens == result.usage.prompt_tokens + result.usage.completion_tokens
    assert result.tokens_per_second is not None and result.tokens_per_second > 0
    with pytest.raises(ValueError, match="at least one"):
        model.complete([])


def test_max_tokens_and_stop_per_call(model: RamalamaModel) -> None:
    result = model.complete([{"role": "user", "content": "Go on"}], max_tokens=3, temperature=0)
    assert result.usage.completion_tokens <= 3
    full = model.chat("Go on", max_tokens=20, temperature=0)["content"]
    if len(full) > 2:
        stop_at = full[1:3]
        cut = model.chat("Go on", max_tokens=20, temperature=0, stop=[stop_at])["content"]
        assert stop_at not in cut and full.startswith(cut)


def test_seed_makes_sampling_repeatable(model: RamalamaModel) -> None:
    replies = {
        model.chat("Hello", seed=1234, temperature=1.0, max_tokens=8)["content"] for _ in range(3)
    }
    assert len(replies) == 1


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


class Person(pydantic.BaseModel):
    name: str
    age: int


@pytest.mark.parametrize("response_format", [SCHEMA, Person], ids=["dict", "pydantic"])
def test_structured_output_matches_the_schema(model: RamalamaModel, response_format: Any) -> None:
    for seed in range(3):
        reply = model.chat("Who?", response_format=response_format, max_tokens=200, seed=seed)
        data = json.loads(reply["content"])
        person = Person.model_validate(data)
        assert set(data) == {"name", "age"} and isinstance(person.age, int)


def test_json_object_gives_a_json_object(model: RamalamaModel) -> None:
    reply = model.chat("JSON please", response_format={"type": "json_object"}, max_tokens=200)
    assert isinstance(json.loads(reply["content"]), dict)


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"temprature": 0.1}, TypeError, "unknown option 'temprature'"),
        ({"temperature": "hot"}, TypeError, "temperature must be a number"),
        ({"temperature": -1}, ValueError, "temperature must be >= 0"),
        ({"top_p": 1.5}, ValueError, "top_p must be between 0 and 1"),
        ({"max_tokens": 0}, ValueError, "max_tokens must be >= 1"),
        ({"seed": 1.5}, TypeError, "seed must be an int"),
        ({"stop": 5}, TypeError, "stop must be a str or a list of str"),
        ({"stop": [""]}, ValueError, "must not be empty"),
        ({"response_format": "json"}, TypeError, "JSON schema dict or a pydantic model"),
    ],
)
def test_bad_options_raise_before_sending(
    model: RamalamaModel, options: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        model.chat("Hi", **options)
    with pytest.raises(error, match=text):
        model.stream("Hi", **options)
    with pytest.raises(error, match=text):
        model.complete([{"role": "user", "content": "Hi"}], **options)


def test_stream_errors_are_api_errors(model: RamalamaModel) -> None:
    with pytest.raises(APIError) as info:
        list(model.stream("word " * 5000))
    assert info.value.status == 400


def test_stream_on_a_stopped_model(model_uri: str) -> None:
    with pytest.raises(ServerNotRunningError):
        list(RamalamaModel(model=model_uri).stream("Hi"))


async def test_async_stream_and_complete(amodel: AsyncRamalamaModel) -> None:
    stream = amodel.stream("Tell me a story", max_tokens=12, temperature=0)
    deltas = [delta async for delta in stream]
    assert stream.done and stream.message["content"] == "".join(deltas)
    reply = await amodel.chat("Tell me a story", max_tokens=12, temperature=0)
    assert reply == stream.message
    result = await amodel.complete([{"role": "user", "content": "Hi"}], max_tokens=3)
    assert 0 < result.usage.completion_tokens <= 3
    reply = await amodel.chat("Who?", response_format=Person, max_tokens=200)
    Person.model_validate_json(reply["content"])


async def test_async_stream_break_and_cancel_leave_the_server_answering(
    amodel: AsyncRamalamaModel,
) -> None:
    async def read_some() -> None:
        async for _ in amodel.stream("Go on", max_tokens=4000, temperature=0):
            await asyncio.sleep(0)

    for _ in range(2):
        stream = amodel.stream("Go on", max_tokens=4000, temperature=0)
        async for index, _ in _enumerate(stream):
            if index == 2:
                break
        assert index == 2 and not stream.done  # broken off, not finished
        assert (await amodel.chat("Hi", max_tokens=3))["role"] == "assistant"
        task = asyncio.create_task(read_some())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert (await amodel.chat("Hi", max_tokens=3))["role"] == "assistant"


async def _enumerate(stream: AsyncIterable[str]) -> AsyncIterator[tuple[int, str]]:
    index = 0
    async for item in stream:
        yield index, item
        index += 1


def test_sse_decoder_reassembles_any_split() -> None:
    events = (
        b'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"Hel"}}]}\r\n\r\n'
        b": keep-alive comment\n\n"
        b'data: {"choices":[{"delta":{"content":"lo \xc3\xa9"}}]}\n\n'
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5},'
        b'"timings":{"predicted_per_second":99.5}}\n\n'
        b"data: [DONE]\n\n"
    )
    for size in (1, 2, 7, len(events)):
        decoder, state = SSEDecoder(), StreamState()
        deltas = []
        for start in range(0, len(events), size):
            for payload in decoder.feed(events[start : start + size]):
                delta = state.add(payload)
                if delta:
                    deltas.append(delta)
        assert deltas == ["Hel", "lo \u00e9"]
        assert state.done and state.finish_reason == "stop"
        assert state.usage.total_tokens == 5
        assert state.completion().tokens_per_second == 99.5


def test_an_error_event_raises() -> None:
    state = StreamState()
    with pytest.raises(APIError, match="boom"):
        state.add('{"error":{"code":500,"message":"boom","type":"server_error"}}')
