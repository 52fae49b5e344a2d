"""The tokens that tools take, on the real stack: ramalama, llama-server, the tiny tools model.

The tiny tools model's chat template writes every tool's schema into the
prompt (a system block listing them), so a chat sent with tools costs more
context than its messages alone. ``count_tokens(messages, tools=...)`` counts
that prompt, and a conversation with ``fit=`` keeps room for it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydantic
import pytest

from conftest import served_fixtures
from ramalama_sdk import AsyncRamalamaModel, McpServer, RamalamaModel


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first.
        b: The second.
    """
    return a + b


class Place(pydantic.BaseModel):
    """A city and how many live there."""

    city: str
    population: int


WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
# Each kind that chat(tools=...) takes: a function, a pydantic class, a schema.
TOOLS: list[Any] = [add, Place, WEATHER]
MESSAGES: list[Any] = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "How tall is the house?"},
]


model, amodel = served_fixtures("tools_uri")


# -- count_tokens(tools=) ------------------------------------------------------


def test_count_tokens_counts_the_tools_as_the_server_does(model: RamalamaModel) -> None:
    without = model.count_tokens(MESSAGES)
    counted = model.count_tokens(MESSAGES, tools=TOOLS)
    usage = model.complete(MESSAGES, tools=TOOLS, max_tokens=1).usage
    assert counted == usage.prompt_tokens
    assert counted > without
    # Each tool adds its own schema: one tool costs less than three.
    assert without < model.count_tokens(MESSAGES, tools=[add]) < counted
    # A chat whose history holds a tool call and its result, counted with its tools.
    history: list[Any] = [
        {"role": "user", "content": "Add 2 and 3"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "add", "content": "5"},
        {"role": "user", "content": "And 4 and 5?"},
    ]
    assert (
        model.count_tokens(history, tools=[add])
        == model.complete(history, tools=[add], max_tokens=1).usage.prompt_tokens
    )
    # None is no tools, as for chat().
    assert model.count_tokens(MESSAGES, tools=None) == without


def test_bad_tools_to_count_fail_before_sending(model: RamalamaModel) -> None:
    with pytest.raises(TypeError, match="tools of a chat"):
        model.count_tokens("How tall is the house?", tools=[add])
    # The tools option's own checks: the error chat(tools=...) gives.
    bad_tools: list[Any] = [[], [42], [add, add], add, [{"name": "no spaces allowed"}]]
    for bad in bad_tools:
        with pytest.raises((TypeError, ValueError)) as by_chat:
            model.chat("Hi", tools=bad)
        with pytest.raises(type(by_chat.value)) as by_count:
            model.count_tokens(MESSAGES, tools=bad)
        assert str(by_count.value) == str(by_chat.value)
    assert model.count_tokens("How tall is the house?") == len(
        model.tokenize("How tall is the house?", add_special=True)
    )


async def test_async_count_tokens_counts_the_tools(amodel: AsyncRamalamaModel) -> None:
    counted = await amodel.count_tokens(MESSAGES, tools=TOOLS)
    usage = (await amodel.complete(MESSAGES, tools=TOOLS, max_tokens=1)).usage
    assert counted == usage.prompt_tokens > await amodel.count_tokens(MESSAGES)
    with pytest.raises(TypeError, match="tools of a chat"):
        await amodel.count_tokens("Hi", tools=[add])


# -- conversations that fit, with tools ----------------------------------------

# A context where the schema of add() takes more than a third, and a few
# exchanges of ~150 tokens fill the rest: a history fitted without counting
# the tools overflows as soon as they are sent with it.
CONTEXT = 1024
SYSTEM = "Answer in a few words."
REPLY: dict[str, Any] = {"max_tokens": 8, "temperature": 0}
TOPICS = ["apples", "rivers", "violins", "glaciers", "lanterns", "falcons", "copper", "tulips"]


def paragraph(topic: str) -> str:
    """About 140 tokens of the tiny model on ``topic``."""
    return f"Note on {topic}. " + f"A note about {topic}. " * 6


def user_turns(messages: list[Any]) -> list[str]:
    return [m["content"] for m in messages if m["role"] == "user"]


@pytest.fixture(scope="module")
def small(tools_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=tools_uri, ctx_size=CONTEXT) as served:
        yield served


def _fitted(history: list[Any], topics: list[str], dropped: list[Any]) -> None:
    """The oldest exchanges went, whole and in order; the newest stayed."""
    asked = [paragraph(topic) for topic in topics]
    assert dropped, "nothing was left out: the test's premise failed"
    assert user_turns(dropped) + user_turns(history) == asked
    assert history[0] == {"role": "system", "content": SYSTEM}


def test_the_tools_take_a_third_of_the_context(small: RamalamaModel) -> None:
    # The premise of the tests below.
    alone = [{"role": "user", "content": paragraph("apples")}]
    assert small.count_tokens(alone, tools=[add]) - small.count_tokens(alone) > CONTEXT // 3


def test_fit_drop_counts_the_tools_of_say(small: RamalamaModel) -> None:
    chat = small.conversation(system=SYSTEM, fit="drop")
    for topic in TOPICS:
        chat.say(paragraph(topic), tools=[add], **REPLY)
    _fitted(chat.history, TOPICS, chat.dropped)
    # The last prompt, tools included, fitted with room for its reply.
    prompt = chat.history[:-1]
    assert small.count_tokens(prompt, tools=[add]) <= CONTEXT - REPLY["max_tokens"]


def test_fit_drop_counts_the_tools_of_act(small: RamalamaModel) -> None:
    chat = small.conversation(system=SYSTEM, fit="drop")
    for topic in TOPICS:
        result = chat.act(paragraph(topic), [add], **REPLY)
        assert result.rounds == 1  # the tiny model answers without calling
    _fitted(chat.history, TOPICS, chat.dropped)
    prompt = chat.history[:-1]
    assert small.count_tokens(prompt, tools=[add]) <= CONTEXT - REPLY["max_tokens"]


async def test_async_fit_summarize_counts_the_tools_of_act(tools_uri: str) -> None:
    async with AsyncRamalamaModel(model=tools_uri, ctx_size=CONTEXT) as served:
        chat = served.conversation(system=SYSTEM, fit="summarize")
        for topic in TOPICS:
            await chat.act(paragraph(topic), [add], **REPLY)
        assert chat.summary is not None and chat.history[1] == chat.summary
        asked = [paragraph(topic) for topic in TOPICS]
        assert user_turns(chat.dropped) + user_turns(chat.history) == asked
        prompt = chat.history[:-1]
        assert await served.count_tokens(prompt, tools=[add]) <= CONTEXT - REPLY["max_tokens"]


def test_fit_drop_counts_the_tools_of_an_mcp_server(small: RamalamaModel) -> None:
    # The server's tools are known once it is open: the conversation opens
    # it before fitting, and the schemas it lists are counted.
    server = McpServer.stdio([sys.executable, str(Path(__file__).with_name("mcp_server.py"))])
    chat = small.conversation(system=SYSTEM, fit="drop")
    topics = TOPICS[:5]
    for topic in topics:
        chat.act(paragraph(topic), [server], **REPLY)
    _fitted(chat.history, topics, chat.dropped)


def test_bad_tools_of_a_fitted_act_fail_as_act_says(small: RamalamaModel) -> None:
    chat = small.conversation(system=SYSTEM, fit="drop")
    with pytest.raises(ValueError, match=r"act\(\) needs at least one tool"):
        chat.act("Add 2 and 3", [], **REPLY)
    with pytest.raises(TypeError, match="'weather' is a bare schema"):
        chat.act("Add 2 and 3", [add, WEATHER], **REPLY)
    with pytest.raises(ValueError, match="tool_choice 'mul' is neither"):
        chat.act("Add 2 and 3", [add], tool_choice="mul", **REPLY)
    assert chat.history == [{"role": "system", "content": SYSTEM}]
