"""The tokens that tools take, on the real stack: ramalama, llama-server, the tiny tools model.

The tiny tools model's chat template writes every tool's schema into the
prompt (a system block listing them), so a chat sent with tools costs more
context than its messages alone. ``count_tokens(messages, tools=...)`` counts
that prompt, and a conversation with ``fit=`` keeps room for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pydantic
import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.testing import tiny_model


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


@pytest.fixture(scope="module")
def tools_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_model(tmp_path_factory.mktemp("tools"), tools=True).as_uri()


@pytest.fixture(scope="module")
def model(tools_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=tools_uri) as served:
        yield served


@pytest.fixture
async def amodel(tools_uri: str) -> AsyncIterator[AsyncRamalamaModel]:
    async with AsyncRamalamaModel(model=tools_uri) as served:
        yield served


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
