"""Agents as programs write them, at the edges the first tries missed.

A tool without parameters (``get_time()``), a tool that returns an object
that cannot be turned into text, a call cut off by ``max_tokens``, and tools
offered to a model whose chat template cannot take them. The tiny model
calls a tool when told to (``tool_choice="required"``: a grammar built from
the tools' schemas), so every call below is one the real server made.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import served_fixtures
from ramalama_sdk import (
    AsyncRamalamaModel,
    ChatMessage,
    GenerationOptions,
    RamalamaModel,
    ReplyCutOffError,
    ToolCallCutOffError,
    UnsupportedError,
    inspect,
)
from ramalama_sdk.testing import tiny_model

OPTIONS: GenerationOptions = {"max_tokens": 300, "seed": 7}


model, amodel = served_fixtures("tools_uri")


class Clock:
    """A tool that takes nothing, as ``get_time()`` does in every agent tutorial."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def get_time(self) -> str:
        """The current time."""
        self.calls.append(())
        return "12:00"


def test_agent_with_a_tool_that_takes_no_arguments(model: RamalamaModel) -> None:
    clock = Clock()
    result = model.act("What time is it?", [clock.get_time], tool_choice="required", **OPTIONS)
    assert clock.calls, [run.error for run in result.tool_runs]
    assert all(run.error is None and run.content == "12:00" for run in result.tool_runs)


async def test_async_agent_with_a_tool_that_takes_no_arguments(
    amodel: AsyncRamalamaModel,
) -> None:
    clock = Clock()

    async def get_date() -> str:
        """Today's date."""
        return "2026-12-06"

    result = await amodel.act(
        "Time and date?", [clock.get_time, get_date], tool_choice="required", **OPTIONS
    )
    assert result.tool_runs
    assert all(run.error is None for run in result.tool_runs), result.tool_runs
    assert {run.content for run in result.tool_runs} <= {"12:00", "2026-12-06"}


class Handle:
    """What a tool may return by mistake: an object that has no text."""

    def __str__(self) -> str:
        raise RuntimeError("a closed handle has no name")


def lookup(key: str) -> object:
    """Look a key up."""
    return {"key": key, "handle": Handle()}


def _check_tool_error(messages: list[ChatMessage], runs: list[object]) -> None:
    tool_messages = [m for m in messages if m["role"] == "tool"]
    assert tool_messages and runs
    for message in tool_messages:  # the model was told, in a message of the transcript
        assert str(message["content"]).startswith("Error: the result (dict) cannot be sent")
    assert messages[-1]["role"] == "assistant"  # and it answered after that


def test_tool_result_that_cannot_be_text_goes_back_as_a_tool_error(model: RamalamaModel) -> None:
    result = model.act("Look up x", [lookup], tool_choice="required", **OPTIONS)
    _check_tool_error(result.messages, list(result.tool_runs))
    run = result.tool_runs[0]
    assert run.error is not None and "RuntimeError: a closed handle" in run.error
    assert isinstance(run.result, dict)  # what the tool returned stays visible
    with pytest.raises(RuntimeError, match="closed handle"):
        model.act("Look up x", [lookup], raise_tool_errors=True, tool_choice="required", **OPTIONS)


async def test_async_tool_result_that_cannot_be_text_goes_back_as_a_tool_error(
    amodel: AsyncRamalamaModel,
) -> None:
    result = await amodel.act("Look up x", [lookup], tool_choice="required", **OPTIONS)
    _check_tool_error(result.messages, list(result.tool_runs))


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# With the tiny model and seed 7, a reply cut at 20 tokens holds a call whose
# arguments are unfinished ('{'); one cut at 4 tokens is '<tool_call>\n{"n',
# before the name ended, so the server parses no call at all.
PARTIAL_CALL, NO_CALL_YET = 20, 4


def test_tool_call_cut_off_by_max_tokens_is_reported_once(model: RamalamaModel) -> None:
    question: list[ChatMessage] = [{"role": "user", "content": "Add 2 and 3"}]
    cut = model.complete(question, tools=[add], tool_choice="required", max_tokens=20, seed=7)
    assert cut.finish_reason == "length" and cut.tool_calls  # the shape this test is about
    seen: list[ChatMessage] = []
    with pytest.raises(ToolCallCutOffError, match="cut off by max_tokens=20") as caught:
        model.act(
            "Add 2 and 3",
            [add],
            on_message=seen.append,
            max_rounds=5,
            tool_choice="required",
            max_tokens=PARTIAL_CALL,
            seed=7,
        )
    error = caught.value
    assert isinstance(error, ReplyCutOffError)  # except ReplyCutOffError catches it too
    # One round, not max_rounds of the same cut: the cut call, then what the model is told.
    assert [m["role"] for m in error.messages] == ["user", "assistant", "tool"]
    assert "cut off by the token limit" in str(error.messages[-1]["content"])
    assert "not a JSON object" not in str(error.messages[-1]["content"])
    assert error.tool_runs and "cut off" in (error.tool_runs[0].error or "")
    assert seen == error.messages[1:]


def test_forced_tool_call_cut_off_before_its_name_is_not_an_answer(
    model: RamalamaModel,
) -> None:
    with pytest.raises(ToolCallCutOffError, match="max_tokens=4") as caught:
        model.act("Add 2 and 3", [add], tool_choice="required", max_tokens=NO_CALL_YET, seed=7)
    # The raw start of the call is not returned as the model's answer.
    assert [m["role"] for m in caught.value.messages] == ["user", "assistant"]
    assert caught.value.tool_runs == []


async def test_async_tool_call_cut_off_by_max_tokens_is_reported_once(
    amodel: AsyncRamalamaModel,
) -> None:
    for limit, roles in ((PARTIAL_CALL, ["user", "assistant", "tool"]), (NO_CALL_YET, None)):
        with pytest.raises(ToolCallCutOffError) as caught:
            await amodel.act(
                "Add 2 and 3", [add], max_rounds=5, tool_choice="required", max_tokens=limit, seed=7
            )
        assert [m["role"] for m in caught.value.messages] == (roles or ["user", "assistant"])


@pytest.fixture(scope="module")
def plain_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model with a ChatML template that has no place for tools."""
    return tiny_model(tmp_path_factory.mktemp("no-tools") / "plain.gguf").as_uri()


def test_tools_to_a_model_whose_template_cannot_take_them(plain_uri: str) -> None:
    clock = Clock()
    with RamalamaModel(model=plain_uri, max_tokens=300) as plain:
        assert plain.info().supports_tools is False
        for call in (
            lambda: plain.act("What time is it?", [clock.get_time]),
            lambda: plain.chat("What time is it?", tools=[clock.get_time]),
            lambda: plain.complete([{"role": "user", "content": "Hi"}], tools=[add]),
            lambda: list(plain.stream("Hi", tools=[add])),
            lambda: plain.chat("Hi", tools=[add], max_tokens=8),  # a one-piece request
            lambda: plain.count_tokens([{"role": "user", "content": "Hi"}], tools=[add]),
        ):
            with pytest.raises(UnsupportedError, match="cannot take tools") as caught:
                call()
            assert plain.model in str(caught.value) and "--chat-template-file" in str(caught.value)
            assert isinstance(caught.value, NotImplementedError)
        assert clock.calls == []
        # No request reached a slot: the server logs "launch_slot_" for each task.
        assert not any("launch_slot_" in line for line in plain.logs(tail=500))
        # Without tools, or with tool_choice="none", the model still answers.
        assert plain.chat("Hi", max_tokens=4)["role"] == "assistant"
        assert plain.chat("Hi", tools=[add], tool_choice="none", max_tokens=4)["role"]
        assert plain.count_tokens([{"role": "user", "content": "Hi"}]) > 1


async def test_async_tools_to_a_model_whose_template_cannot_take_them(plain_uri: str) -> None:
    clock = Clock()
    async with AsyncRamalamaModel(model=plain_uri, max_tokens=300) as plain:
        with pytest.raises(UnsupportedError, match="cannot take tools"):
            await plain.act("What time is it?", [clock.get_time])
        with pytest.raises(UnsupportedError, match="cannot take tools"):
            await plain.chat("Hi", tools=[add], max_tokens=8)
        with pytest.raises(UnsupportedError, match="cannot take tools"):
            [delta async for delta in plain.stream("Hi", tools=[add])]
        with pytest.raises(UnsupportedError, match="cannot take tools"):
            await plain.count_tokens([{"role": "user", "content": "Hi"}], tools=[add])
        assert clock.calls == []
        assert (await plain.chat("Hi", max_tokens=4))["role"] == "assistant"


def test_a_tool_capable_template_given_at_serve_time_takes_tools(
    plain_uri: str, tools_uri: str, tmp_path: Path
) -> None:
    """The way out that the error names: serve with a template that renders tools."""
    RamalamaModel(model=tools_uri).download(progress=None)
    template = inspect(tools_uri).chat_template
    assert template and "tools" in template
    path = tmp_path / "tools.jinja"
    path.write_text(template)
    with RamalamaModel(
        model=plain_uri, max_tokens=4, runtime_args=["--chat-template-file", str(path)]
    ) as fixed:
        assert fixed.info().supports_tools is True
        assert fixed.chat("What time is it?", tools=[add])["role"] == "assistant"
