"""The per-call options beyond the basic ones, on the real stack."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from ramalama_sdk import AsyncRamalamaModel, ChatMessage, RamalamaModel, TokenLogprob

USER: list[ChatMessage] = [{"role": "user", "content": "Tell me"}]


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri) as served:
        yield served


def test_logprobs_are_typed_entries(model: RamalamaModel) -> None:
    result = model.complete(USER, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3)
    assert result.logprobs is not None
    assert len(result.logprobs) == result.usage.completion_tokens
    for entry in result.logprobs:
        assert isinstance(entry, TokenLogprob) and entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # Greedy: the chosen token is the most likely candidate.
        assert entry.token == entry.top_logprobs[0].token
        assert math.isclose(entry.logprob, entry.top_logprobs[0].logprob, abs_tol=1e-4)
    assert "".join(e.token for e in result.logprobs) == result.content
    assert model.complete(USER, max_tokens=4).logprobs is None


def test_streamed_logprobs(model: RamalamaModel) -> None:
    stream = model.stream("Tell me", max_tokens=5, temperature=0, logprobs=True)
    text = "".join(stream)
    logprobs = stream.completion().logprobs
    assert logprobs is not None and "".join(e.token for e in logprobs) == text


def test_extra_body_is_merged_last(model: RamalamaModel) -> None:
    # Its max_tokens wins over the checked one; unknown keys pass unchecked.
    result = model.complete(
        USER, max_tokens=40, temperature=0, extra_body={"max_tokens": 2, "mirostat": 0}
    )
    assert result.usage.completion_tokens == 2 and result.finish_reason == "length"


def test_top_k_one_is_greedy_whatever_the_seed(model: RamalamaModel) -> None:
    replies = {
        model.chat("Tell me", top_k=1, temperature=1.5, seed=seed, max_tokens=8)["content"]
        for seed in range(4)
    }
    assert len(replies) == 1
    sampled = {
        model.chat("Tell me", temperature=1.5, seed=seed, max_tokens=8)["content"]
        for seed in range(4)
    }
    assert len(sampled) > 1  # without top_k the seeds do differ


def test_logit_bias_steers_tokens(model: RamalamaModel) -> None:
    greedy = model.complete(USER, max_tokens=4, temperature=0, logprobs=True)
    assert greedy.logprobs
    first = greedy.logprobs[0].token
    # Forbid the greedy first token by its text: the reply starts otherwise.
    banned = model.complete(USER, max_tokens=4, temperature=0, logit_bias={first: -100})
    assert not banned.content.startswith(first)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"top_k": -1}, ValueError),
        ({"top_k": 1.5}, TypeError),
        ({"min_p": 2}, ValueError),
        ({"repeat_penalty": -1}, ValueError),
        ({"presence_penalty": 3}, ValueError),
        ({"frequency_penalty": "a"}, TypeError),
        ({"logit_bias": {1: 200}}, ValueError),
        ({"logit_bias": [1, 2]}, TypeError),
        ({"logprobs": 1}, TypeError),
        ({"top_logprobs": 3}, ValueError),  # without logprobs=True
        ({"logprobs": True, "top_logprobs": 21}, ValueError),
        ({"chat_template_kwargs": {"a": object()}}, ValueError),
        ({"extra_body": ["x"]}, TypeError),
        ({"reasoning_effort": 3}, TypeError),
        ({"parallel_tool_calls": True}, ValueError),  # without tools
    ],
)
def test_bad_option_values_fail_before_sending(
    model: RamalamaModel, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        model.chat("x", **options)


def test_sampling_options_reach_the_server(model: RamalamaModel) -> None:
    result = model.complete(
        USER,
        max_tokens=6,
        min_p=0.05,
        repeat_penalty=1.1,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        cache_prompt=False,
        reasoning_effort="low",
        chat_template_kwargs={"enable_thinking": False},
    )
    assert result.message["role"] == "assistant"


async def test_async_logprobs_and_extra_body(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri) as amodel:
        result = await amodel.complete(
            USER, max_tokens=20, temperature=0, logprobs=True, extra_body={"max_tokens": 3}
        )
    assert result.logprobs is not None and len(result.logprobs) == 3
