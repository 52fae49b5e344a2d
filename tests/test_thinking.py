"""Thinking models on the real stack: reasoning kept apart from the answer.

The tiny model served with ``thinking=True`` has a template that opens
``<think>`` in the generation prompt, as recent thinking models do, so what
it generates is reasoning to llama-server. At temperature 0 it never stops by
itself; the per-call ``thinking_budget`` (llama-server's reasoning budget)
closes the thinking after a few tokens, and what follows is the answer.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from conftest import served_fixtures
from ramalama_sdk import (
    AsyncRamalamaModel,
    ChatMessage,
    RamalamaModel,
    StreamEvent,
    ThinkingCutOffWarning,
)
from ramalama_sdk.models.core import SHORT_REPLY_TOKENS
from ramalama_sdk.testing import tiny_model

USER: list[ChatMessage] = [{"role": "user", "content": "Why is the sky blue?"}]
# Think for 4 tokens, then answer; greedy, so the replies are the same each time.
THINK: dict[str, Any] = {
    "temperature": 0,
    "max_tokens": 16,
    "thinking_budget": 4,
}


@pytest.fixture(scope="module")
def thinking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_model(tmp_path_factory.mktemp("thinking"), thinking=True).as_uri()


model, amodel = served_fixtures("thinking_uri")


def _no_tags(text: str) -> None:
    assert "<think>" not in text and "</think>" not in text, text


def test_reasoning_is_split_from_the_answer(model: RamalamaModel) -> None:
    result = model.complete(USER, **THINK)
    assert result.reasoning and result.content, result
    _no_tags(result.reasoning)
    _no_tags(result.content)
    assert result.message["reasoning_content"] == result.reasoning
    assert not result.cut_off_while_thinking
    # The reply, reasoning included, is valid history for the next turn.
    again = model.complete([*USER, result.message, {"role": "user", "content": "More"}], **THINK)
    assert again.reasoning and again.content


def test_thinking_budget_ends_the_reasoning_and_the_answer_follows(model: RamalamaModel) -> None:
    """Without a budget this model thinks until max_tokens runs out (below):
    a budget ends the thinking after that many tokens, then it answers."""
    replies = {
        budget: model.complete(USER, temperature=0, max_tokens=24, thinking_budget=budget)
        for budget in (2, 8)
    }
    for reply in replies.values():
        assert reply.content and not reply.cut_off_while_thinking, reply
    short, long = replies[2].reasoning or "", replies[8].reasoning or ""
    # Greedy: the same thoughts, ended sooner.
    assert short and long.startswith(short) and len(long) > len(short)
    assert len(model.tokenize(short)) <= 2 and len(model.tokenize(long)) <= 8


def test_thinking_budget_is_checked_before_sending(model: RamalamaModel) -> None:
    with pytest.raises(ValueError, match="thinking_budget must be"):
        model.chat("Hi", thinking_budget=-1)
    with pytest.raises(TypeError, match="thinking_budget must be an int"):
        model.chat("Hi", thinking_budget=True)


def test_thinking_cut_off_by_max_tokens_is_said(model: RamalamaModel) -> None:
    result = model.complete(USER, temperature=0, max_tokens=3)
    assert result.finish_reason == "length" and result.content == ""
    assert result.reasoning and result.cut_off_while_thinking
    with pytest.warns(
        ThinkingCutOffWarning, match="max_tokens ran out while the model was"
    ) as record:
        reply = model.chat("Why?", temperature=0, max_tokens=3)
    assert reply["content"] == "" and reply["reasoning_content"]
    assert record[0].filename == __file__  # the warning points at the caller


def test_thinking_can_be_turned_off_per_call(model: RamalamaModel) -> None:
    off = model.complete(
        USER, temperature=0, max_tokens=6, chat_template_kwargs={"enable_thinking": False}
    )
    assert off.reasoning is None and off.content
    none = model.complete(USER, temperature=0, max_tokens=6, reasoning_effort="none")
    assert none.reasoning is None and none.content == off.content
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cut-off warning when there is an answer
        model.chat("Hi", temperature=0, max_tokens=6, reasoning_effort="none")


def test_stream_shows_reasoning_as_it_arrives(model: RamalamaModel) -> None:
    whole = model.complete(USER, **THINK)
    events: list[StreamEvent] = []
    stream_events = model.stream("Why is the sky blue?", **THINK)
    for event in stream_events.events():
        events.append(event)
    kinds = [e.kind for e in events]
    assert kinds == sorted(kinds, key=lambda k: k != "reasoning")  # reasoning first
    assert "".join(e.text for e in events if e.kind == "reasoning") == whole.reasoning
    assert "".join(e.text for e in events if e.kind == "content") == whole.content
    assert stream_events.reasoning == whole.reasoning
    assert stream_events.completion().reasoning == whole.reasoning
    # Plain iteration yields the answer only.
    plain = model.stream("Why is the sky blue?", **THINK)
    assert "".join(plain) == whole.content and plain.reasoning == whole.reasoning


def test_serve_option_thinking_false(thinking_uri: str) -> None:
    with RamalamaModel(model=thinking_uri, thinking=False) as plain:
        result = plain.complete(USER, temperature=0, max_tokens=6)
    assert result.reasoning is None and result.content


async def test_async_reasoning_in_replies_and_streams(amodel: AsyncRamalamaModel) -> None:
    whole = await amodel.complete(USER, **THINK)
    assert whole.reasoning and whole.content
    sooner = await amodel.complete(USER, temperature=0, max_tokens=16, thinking_budget=2)
    assert sooner.content and whole.reasoning.startswith(sooner.reasoning or "\0")
    assert len(sooner.reasoning or "") < len(whole.reasoning)
    stream = amodel.stream("Why is the sky blue?", **THINK)
    events = [event async for event in stream.events()]
    assert "".join(e.text for e in events if e.kind == "reasoning") == whole.reasoning
    plain = amodel.stream("Why is the sky blue?", **THINK)
    assert "".join([t async for t in plain]) == whole.content
    with pytest.warns(ThinkingCutOffWarning) as record:
        await amodel.chat("Why?", temperature=0, max_tokens=3)
    assert record[0].filename == __file__


def test_thinking_cut_off_in_a_streamed_reply_is_said_too(model: RamalamaModel) -> None:
    # Over SHORT_REPLY_TOKENS, chat() receives the reply as a stream.
    with pytest.warns(ThinkingCutOffWarning) as record:
        reply = model.chat("Why?", temperature=0, max_tokens=SHORT_REPLY_TOKENS + 16)
    assert reply["content"] == "" and reply["reasoning_content"]
    assert record[0].filename == __file__  # the warning points at the caller


async def test_async_thinking_cut_off_in_a_streamed_reply(amodel: AsyncRamalamaModel) -> None:
    with pytest.warns(ThinkingCutOffWarning) as record:
        reply = await amodel.chat("Why?", temperature=0, max_tokens=SHORT_REPLY_TOKENS + 16)
    assert reply["content"] == "" and reply["reasoning_content"]
    assert record[0].filename == __file__
