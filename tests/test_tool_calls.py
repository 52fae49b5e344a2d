"""Tools and act() on the real stack: ramalama, llama-server, the tiny model.

The tiny model's weights are random, so it only calls a tool when told to
(``tool_choice="required"``): llama-server then constrains its reply with a
grammar built from the tools' schemas, and parses the call out of it. What
the functions receive is therefore what a real model's call would give them.
"""

from __future__ import annotations

import asyncio
import enum
import json
import threading

import pydantic
import pytest

from conftest import served_fixtures
from ramalama_sdk import (
    ActResult,
    AsyncRamalamaModel,
    ChatMessage,
    GenerationOptions,
    JinjaRequiredError,
    MaxRoundsError,
    RamalamaModel,
    ReplyCutOffError,
    ToolCall,
    ToolCallDict,
)

# Short replies: a call's arguments are short, the final answer need not be long.
OPTIONS: GenerationOptions = {"max_tokens": 300, "seed": 7}


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Place(pydantic.BaseModel):
    city: str
    population: int


model, amodel = served_fixtures("tools_uri")


class Recorder:
    """Two plain functions that remember what they were called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    def add(self, a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: The first.
            b: The second.
        """
        self.calls.append(("add", (a, b)))
        return a + b

    def describe(self, place: Place, unit: Unit = Unit.CELSIUS) -> dict[str, object]:
        """Describe a place."""
        self.calls.append(("describe", (place, unit)))
        return {"city": place.city, "unit": unit.value}


def _check_typed(recorder: Recorder) -> None:
    assert recorder.calls, "the model called no tool"
    for name, args in recorder.calls:
        if name == "add":
            assert all(type(a) is int for a in args), args
        else:
            place, unit = args
            assert isinstance(place, Place) and isinstance(unit, Unit), args


def test_required_tool_choice_gives_a_typed_call(model: RamalamaModel) -> None:
    recorder = Recorder()
    result = model.complete(
        [{"role": "user", "content": "Add 2 and 3"}],
        tools=[recorder.add],
        tool_choice="required",
        **OPTIONS,
    )
    assert result.tool_calls, result
    call = result.tool_calls[0]
    assert isinstance(call, ToolCall) and call.name == "add" and call.id
    assert set(call.arguments) == {"a", "b"}
    assert all(isinstance(v, int) for v in call.arguments.values())
    # The reply message carries the calls, ready to go back as history.
    assert result.message["tool_calls"][0]["function"]["name"] == "add"
    assert json.loads(result.message["tool_calls"][0]["function"]["arguments"]) == call.arguments
    assert result.finish_reason == "tool_calls"


def test_choosing_a_tool_by_name(model: RamalamaModel) -> None:
    recorder = Recorder()
    result = model.complete(
        [{"role": "user", "content": "Where?"}],
        tools=[recorder.add, recorder.describe],
        tool_choice="describe",
        **OPTIONS,
    )
    assert [c.name for c in result.tool_calls] == ["describe"] * len(result.tool_calls)
    Place.model_validate(result.tool_calls[0].arguments["place"])


def test_act_runs_real_functions_with_typed_arguments(model: RamalamaModel) -> None:
    recorder = Recorder()
    seen: list[ChatMessage] = []
    result = model.act(
        "Add 2 and 3, then describe Paris.",
        [recorder.add, recorder.describe],
        tool_choice="required",
        on_message=seen.append,
        **OPTIONS,
    )
    assert isinstance(result, ActResult)
    _check_typed(recorder)
    assert len(result.tool_runs) == len(recorder.calls)
    for run in result.tool_runs:
        assert run.error is None
        assert run.content == (
            str(run.result) if run.call.name == "add" else json.dumps(run.result)
        )
    roles = [m["role"] for m in result.messages]
    assert roles[0] == "user" and roles[1] == "assistant" and roles[-1] == "assistant"
    assert roles[2 : 2 + len(result.tool_runs)] == ["tool"] * len(result.tool_runs)
    assert "tool_calls" in result.messages[1] and "tool_calls" not in result.messages[-1]
    assert [m["tool_call_id"] for m in result.messages if m["role"] == "tool"] == [
        run.call.id for run in result.tool_runs
    ]
    assert seen == result.messages[1:]  # every new message, as it came
    assert result.content == result.messages[-1]["content"]
    # The transcript is valid history: the server takes it for another turn.
    again = model.complete([*result.messages, {"role": "user", "content": "Thanks"}], max_tokens=8)
    assert again.message["role"] == "assistant"
    assert isinstance(model.chat("And now?", result.messages, max_tokens=8)["content"], str)


def test_act_sends_tool_errors_back_or_raises_them(model: RamalamaModel) -> None:
    def lookup(key: str) -> str:
        """Look a key up."""
        raise KeyError(key)

    result = model.act("Look up x", [lookup], tool_choice="required", **OPTIONS)
    run = result.tool_runs[0]
    assert run.error is not None and run.error.startswith("KeyError")
    assert run.content.startswith("Error: KeyError")
    with pytest.raises(KeyError):
        model.act(
            "Look up x",
            [lookup],
            tool_choice="required",
            raise_tool_errors=True,
            **OPTIONS,
        )


def test_max_rounds_error_carries_the_transcript(model: RamalamaModel) -> None:
    recorder = Recorder()
    with pytest.raises(MaxRoundsError) as caught:
        model.act(
            "Add",
            [recorder.add],
            tool_choice="required",
            max_rounds=1,
            **OPTIONS,
        )
    error = caught.value
    assert isinstance(error, RuntimeError)
    assert [m["role"] for m in error.messages][:2] == ["user", "assistant"]
    assert error.messages[-1]["role"] == "tool" and len(error.tool_runs) == len(recorder.calls)


# Fewer tokens than a call of the tiny tools model takes to write: the
# '<tool_call>' token and the grammar's '{"name": "add", "arguments": {"a"'.
CUT_OFF: GenerationOptions = {"max_tokens": 24, "seed": 7}


def test_a_call_cut_off_by_max_tokens_is_named_and_not_run(model: RamalamaModel) -> None:
    """Where the {"": text} arguments came from: a reply cut off mid-call."""
    recorder = Recorder()
    cut = model.complete(
        [{"role": "user", "content": "Add"}],
        tools=[recorder.add],
        tool_choice="required",
        **CUT_OFF,
    )
    assert cut.finish_reason == "length" and cut.tool_calls
    assert "" in cut.tool_calls[-1].arguments  # the text that is not (yet) a JSON object
    with pytest.raises(ReplyCutOffError, match=r"cut off by max_tokens.*'add'") as caught:
        model.act("Add", [recorder.add], tool_choice="required", **CUT_OFF)
    assert isinstance(caught.value, ValueError) and "raise max_tokens" in str(caught.value)
    assert recorder.calls == []  # nothing was run on unfinished arguments


async def test_async_act_names_a_call_cut_off_by_max_tokens(amodel: AsyncRamalamaModel) -> None:
    recorder = Recorder()
    with pytest.raises(ReplyCutOffError, match="cut off by max_tokens"):
        await amodel.act("Add", [recorder.add], tool_choice="required", **CUT_OFF)
    assert recorder.calls == []


def test_conversation_act_keeps_the_transcript(model: RamalamaModel) -> None:
    recorder = Recorder()
    chat = model.conversation(system="Use the tools.")
    result = chat.act("Add 1 and 1", [recorder.add], tool_choice="required", **OPTIONS)
    # The transcript starts with the history it was given: the system prompt.
    assert result.messages[0] == {"role": "system", "content": "Use the tools."}
    assert chat.history == result.messages
    assert [m["role"] for m in result.messages[1:3]] == ["user", "assistant"]
    chat.say("Fine", max_tokens=8)  # the history with tool messages is accepted
    assert len(chat.history) == len(result.messages) + 2


def test_stream_assembles_tool_calls(model: RamalamaModel) -> None:
    recorder = Recorder()
    stream = model.stream("Add", tools=[recorder.add], tool_choice="required", **OPTIONS)
    text = "".join(stream)
    assert stream.done and text == ""
    calls = stream.tool_calls
    assert calls and calls[0].name == "add"
    assert all(type(v) is int for v in calls[0].arguments.values())
    assert stream.completion().tool_calls == calls
    assert stream.message["tool_calls"][0]["id"] == calls[0].id


async def test_async_act_runs_coroutines_and_blocking_tools_off_the_loop(
    amodel: AsyncRamalamaModel,
) -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    async def add(a: int, b: int) -> int:
        """Add two integers."""
        threads.append(threading.get_ident())
        await asyncio.sleep(0)
        return a + b

    def describe(place: Place) -> str:
        """Describe a place."""
        threads.append(-threading.get_ident())
        return place.city

    result = await amodel.act(
        "Add, then describe",
        [add, describe],
        tool_choice="required",
        parallel_tool_calls=True,
        **OPTIONS,
    )
    assert result.tool_runs and all(run.error is None for run in result.tool_runs)
    for ident in threads:  # coroutines on the loop, plain functions in a thread
        assert (ident == loop_thread) if ident > 0 else (-ident != loop_thread)
    chat = amodel.conversation()
    await chat.act("Add", [add], tool_choice="required", **OPTIONS)
    assert chat.history[1]["role"] == "assistant" and "tool_calls" in chat.history[1]


async def test_async_stream_assembles_tool_calls(amodel: AsyncRamalamaModel) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    stream = amodel.stream("Add", tools=[add], tool_choice="required", **OPTIONS)
    assert [t async for t in stream] == []
    assert stream.tool_calls and stream.tool_calls[0].name == "add"


def test_bad_tools_fail_before_anything_is_sent(model: RamalamaModel) -> None:
    def bad(callback: object, n: int) -> None: ...

    with pytest.raises(TypeError, match="act\\(\\) runs its tools"):
        model.act("x", [{"name": "ping"}])
    with pytest.raises(ValueError, match="max_rounds"):
        model.act("x", [bad], max_rounds=0)
    with pytest.raises(TypeError, match="unknown option"):
        model.act("x", [bad], temprature=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="tool_choice"):
        model.chat("x", tools=[bad], tool_choice="nope")


def test_a_server_without_jinja_says_what_to_do(tools_uri: str) -> None:
    def add(a: int, b: int) -> int:
        return a + b

    with RamalamaModel(model=tools_uri, runtime_args=["--no-jinja"]) as plain:
        with pytest.raises(JinjaRequiredError, match="runtime_args=\\['--jinja'\\]"):
            plain.chat("Add", tools=[add])
        assert plain.chat("Hi", max_tokens=4)["role"] == "assistant"
    assert not plain.is_running


def test_history_with_malformed_tool_messages_is_refused(model: RamalamaModel) -> None:
    call: ToolCallDict = {
        "id": "c1",
        "type": "function",
        "function": {"name": "add", "arguments": "{}"},
    }
    good: list[ChatMessage] = [
        {"role": "user", "content": "Add"},
        {"role": "assistant", "content": None, "tool_calls": [call]},  # type: ignore[typeddict-item]
        {"role": "tool", "content": "3", "tool_call_id": "c1"},
    ]
    assert model.chat("Thanks", good, max_tokens=4)["role"] == "assistant"
    with pytest.raises(ValueError, match="needs the tool_call_id"):
        model.chat("x", [{"role": "tool", "content": "3"}])
    with pytest.raises(ValueError, match="only an assistant message has tool_calls"):
        model.chat("x", [{"role": "user", "content": "a", "tool_calls": [call]}])
    with pytest.raises(ValueError, match="needs an 'id'"):
        bad_call = {"type": "function", "function": {"name": "add", "arguments": "{}"}}
        model.chat("x", [{"role": "assistant", "content": "", "tool_calls": [bad_call]}])  # type: ignore[list-item]
