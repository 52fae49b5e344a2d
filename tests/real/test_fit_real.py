"""Conversations that keep within the context (``fit=``), on a real model.

SmolLM2-135M-Instruct (from PyPI) is served with a 1024-token context, and
each user message is a ~220-token paragraph, so a few exchanges overflow it:
without ``fit`` the server refuses (ContextLengthError); with ``fit="drop"``
the oldest exchanges are left out, with ``fit="summarize"`` the model's own
summary takes their place. Replies are kept to a few tokens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ramalama_sdk import AsyncRamalamaModel, ContextLengthError, RamalamaModel
from ramalama_sdk.chat_options import ChatOptions
from ramalama_sdk.models.fitting import SUMMARY_PREFIX
from ramalama_sdk.testing import real_chat_model
from ramalama_sdk.types import ChatMessage

CONTEXT = 1024
SYSTEM = "Answer in a few words."
MAX_TOKENS = 8
REPLY: ChatOptions = {"max_tokens": MAX_TOKENS, "temperature": 0}
TOPICS = ["apples", "rivers", "violins", "glaciers", "lanterns", "falcons", "copper", "tulips"]


def paragraph(topic: str) -> str:
    """About 220 tokens on ``topic``."""
    line = f"This is a long note about {topic}, which are worth knowing about in detail. "
    return f"Note on {topic}. " + line * 12 + "What is this note about?"


@pytest.fixture(scope="module")
def uri() -> str:
    return real_chat_model(progress=None).as_uri()


@pytest.fixture(scope="module")
def served(uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=uri, ctx_size=CONTEXT, threads=1) as model:
        yield model


@pytest.fixture
async def aserved(uri: str) -> AsyncIterator[AsyncRamalamaModel]:
    async with AsyncRamalamaModel(model=uri, ctx_size=CONTEXT, threads=1) as model:
        yield model


def user_turns(messages: list[ChatMessage]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user"]


def test_a_paragraph_is_long_enough_to_overflow(served: RamalamaModel) -> None:
    # The premise of the tests below: five of these do not fit.
    one = served.count_tokens([ChatMessage(role="user", content=paragraph("apples"))])
    assert 150 < one < CONTEXT // 4


def test_without_fit_the_conversation_ends_in_context_length_error(served: RamalamaModel) -> None:
    chat = served.conversation(system=SYSTEM)
    with pytest.raises(ContextLengthError):
        for topic in TOPICS:
            chat.say(paragraph(topic), **REPLY)
    assert chat.dropped == [] and chat.summary is None


def test_fit_drop_keeps_going(served: RamalamaModel) -> None:
    chat = served.conversation(system=SYSTEM, fit="drop")
    for topic in TOPICS:
        chat.say(paragraph(topic), **REPLY)
    history = chat.history
    assert history[0] == ChatMessage(role="system", content=SYSTEM)
    # The oldest exchanges went, whole and in order; the newest stayed.
    asked = [paragraph(topic) for topic in TOPICS]
    assert user_turns(chat.dropped) + user_turns(history) == asked
    assert user_turns(chat.dropped) == asked[: len(user_turns(chat.dropped))]
    assert len(user_turns(chat.dropped)) >= len(TOPICS) // 2
    assert [m["role"] for m in chat.dropped[:2]] == ["user", "assistant"]
    assert history[-2]["content"] == asked[-1]
    assert served.count_tokens(history[:-1]) <= CONTEXT - MAX_TOKENS
    assert chat.summary is None


def test_fit_summarize_puts_a_summary_in_place(served: RamalamaModel) -> None:
    chat = served.conversation(system=SYSTEM, fit="summarize")
    for topic in TOPICS[:6]:
        chat.say(paragraph(topic), **REPLY)
    history = chat.history
    summary = chat.summary
    assert summary is not None
    assert history[0] == ChatMessage(role="system", content=SYSTEM)
    assert history[1] == summary
    assert summary["role"] == "system" and summary.get("name") == "summary"
    assert summary["content"].startswith(SUMMARY_PREFIX)
    assert len(summary["content"]) > len(SUMMARY_PREFIX)
    assert chat.dropped and user_turns(chat.dropped)[0] == paragraph(TOPICS[0])
    assert user_turns(history) == [paragraph(t) for t in TOPICS[len(user_turns(chat.dropped)) : 6]]


def test_fit_is_checked(served: RamalamaModel) -> None:
    with pytest.raises(ValueError, match="fit must be 'drop', 'summarize' or None"):
        served.conversation(fit="truncate")  # type: ignore[arg-type]


async def test_async_fit_summarize(aserved: AsyncRamalamaModel) -> None:
    # The policy is one pure core for both shells (the tests above hold it);
    # here, the async shell's own path: its token counts and the summary that
    # its nested chat() writes.
    summing = aserved.conversation(system=SYSTEM, fit="summarize")
    for topic in TOPICS[:6]:
        await summing.say(paragraph(topic), **REPLY)
    summary = summing.summary
    assert summary is not None and summing.history[1] == summary
    assert summary["content"].startswith(SUMMARY_PREFIX)
    assert len(summary["content"]) > len(SUMMARY_PREFIX)
    assert user_turns(summing.dropped)[0] == paragraph(TOPICS[0])
    assert user_turns(summing.dropped) + user_turns(summing.history) == [
        paragraph(topic) for topic in TOPICS[:6]
    ]
    assert await aserved.count_tokens(summing.history[:-1]) <= CONTEXT - MAX_TOKENS
