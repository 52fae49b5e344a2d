"""Recorded llama-server replies replayed through the pure parsers, and the act()
loop driven with them.

A supplement to the real-server tests (test_tool_calls.py, test_thinking.py):
the files in tests/replies/ are what this llama-server build sent to the tiny
models (``tiny_model(tools=True)`` with two parallel calls, and
``tiny_model(thinking=True)`` with logprobs), kept so that the parsers and the
loop's concurrency can be checked exactly, without a server.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from ramalama_sdk import ChatMessage, Completion, MaxRoundsError
from ramalama_sdk.agents.agent import act_steps
from ramalama_sdk.http import protocol
from ramalama_sdk.http.streaming import SSEDecoder, StreamState
from ramalama_sdk.models._async.acting import drive_act as drive_async
from ramalama_sdk.models._sync.acting import drive_act as drive
from ramalama_sdk.tools.definitions import tool_from

REPLIES = Path(__file__).parent / "replies"


def _read(name: str) -> bytes:
    return (REPLIES / name).read_bytes()


def _stream(name: str) -> StreamState:
    state = StreamState()
    decoder = SSEDecoder()
    for payload in decoder.feed(_read(name)) + decoder.flush():
        state.add_events(payload)
    assert state.done
    return state


def test_a_reply_with_two_tool_calls() -> None:
    completion = protocol.parse_completion(_read("tool_calls.json"))
    assert [c.name for c in completion.tool_calls] == ["add", "add"]
    assert completion.tool_calls[0].arguments == {"a": 29687252, "b": 2}
    assert completion.content == "" and completion.finish_reason == "tool_calls"
    assert [c["id"] for c in completion.message["tool_calls"]] == [
        c.id for c in completion.tool_calls
    ]


def test_streamed_tool_call_deltas_assemble_into_the_same_calls() -> None:
    state = _stream("tool_calls.sse")
    whole = protocol.parse_completion(_read("tool_calls.json"))
    # The same request, streamed: same calls, same arguments (ids are random).
    assert [(c.name, c.arguments) for c in state.tool_calls] == [
        (c.name, c.arguments) for c in whole.tool_calls
    ]
    assert state.completion().finish_reason == "tool_calls" and state.text == ""


def test_reasoning_and_logprobs_of_a_thinking_reply() -> None:
    completion = protocol.parse_completion(_read("reasoning_logprobs.json"))
    assert completion.reasoning == "]allhas" and completion.content == " meG play port}}"
    assert completion.message["reasoning_content"] == completion.reasoning
    assert completion.logprobs is not None and len(completion.logprobs) == 16
    assert all(len(e.top_logprobs) == 2 for e in completion.logprobs)


def test_streamed_reasoning_arrives_before_the_answer() -> None:
    state = _stream("reasoning.sse")
    assert state.reasoning and state.text
    assert "<think>" not in state.text and "</think>" not in state.text


def _two_calls() -> Completion:
    return protocol.parse_completion(_read("tool_calls.json"))


def _answer() -> Completion:
    body = {"choices": [{"message": {"role": "assistant", "content": "5"}}]}
    return protocol.parse_completion(json.dumps(body))


def _steps(function: Any, *, max_rounds: int = 3) -> Any:
    tool = tool_from(function)
    messages: list[ChatMessage] = [{"role": "user", "content": "Add"}]
    return act_steps(
        messages,
        {"add": tool},
        {},
        max_rounds=max_rounds,
        on_message=None,
        raise_tool_errors=False,
    )


async def test_async_loop_runs_a_turns_coroutine_calls_concurrently() -> None:
    started: list[int] = []
    release = asyncio.Event()

    async def add(a: int, b: int) -> int:
        started.append(a)
        if len(started) == 2:
            release.set()
        # Each call waits for the other to have started: run one after the
        # other, this would never finish.
        await asyncio.wait_for(release.wait(), timeout=30)
        return a + b

    replies = iter([_two_calls(), _answer()])

    async def complete(messages: list[ChatMessage], options: dict[str, Any]) -> Completion:
        return next(replies)

    result = await drive_async(_steps(add), complete)
    assert sorted(started) == [61342, 29687252]
    assert [run.result for run in result.tool_runs] == [29687254, 61571]
    assert [m["role"] for m in result.messages] == [
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
    ]


async def test_async_loop_runs_blocking_calls_in_threads_at_once() -> None:
    barrier = threading.Barrier(2, timeout=30)  # broken if the calls ran in turn
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def add(a: int, b: int) -> int:
        threads.append(threading.get_ident())
        barrier.wait()
        return a + b

    replies = iter([_two_calls(), _answer()])

    async def complete(messages: list[ChatMessage], options: dict[str, Any]) -> Completion:
        return next(replies)

    result = await drive_async(_steps(add), complete)
    assert all(run.error is None for run in result.tool_runs)
    assert loop_thread not in threads and len(set(threads)) == 2


def test_sync_loop_and_max_rounds() -> None:
    calls: list[tuple[int, int]] = []

    def add(a: int, b: int) -> int:
        calls.append((a, b))
        return a + b

    with pytest.raises(MaxRoundsError) as caught:
        drive(_steps(add, max_rounds=2), lambda messages, options: _two_calls())
    assert len(calls) == 4 and len(caught.value.tool_runs) == 4
    roles = [m["role"] for m in caught.value.messages]
    assert roles == ["user", "assistant", "tool", "tool", "assistant", "tool", "tool"]


def test_the_first_round_forces_a_call_the_later_ones_do_not() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    tool = tool_from(add)
    steps = act_steps(
        [{"role": "user", "content": "Add"}],
        {"add": tool},
        {"tool_choice": "required", "seed": 1},
        max_rounds=3,
        on_message=None,
        raise_tool_errors=False,
    )
    asked: list[dict[str, Any]] = []

    def complete(messages: list[ChatMessage], options: dict[str, Any]) -> Completion:
        asked.append(options)
        return _two_calls() if len(asked) == 1 else _answer()

    drive(steps, complete)
    assert asked[0]["tool_choice"] == "required" and "tool_choice" not in asked[1]
    assert asked[1]["seed"] == 1 and asked[1]["tools"] == [tool]


def test_unknown_tools_and_bad_arguments_go_back_to_the_model() -> None:
    def add(a: int, b: int) -> int:
        return a + b

    calls = [
        {"id": "1", "type": "function", "function": {"name": "mul", "arguments": "{}"}},
        {"id": "2", "type": "function", "function": {"name": "add", "arguments": '{"a": "x"}'}},
        {"id": "3", "type": "function", "function": {"name": "add", "arguments": '{"a":'}},
    ]
    body = {"choices": [{"message": {"role": "assistant", "content": "", "tool_calls": calls}}]}
    replies = iter([protocol.parse_completion(json.dumps(body)), _answer()])
    result = drive(_steps(add), lambda messages, options: next(replies))
    errors = [run.error for run in result.tool_runs]
    assert errors[0] == "there is no tool 'mul' (tools: add)"
    assert errors[1] is not None and "a: Input should be a valid integer" in errors[1]
    assert "b: Field required" in errors[1]
    assert (errors[2] or "").startswith("the arguments are not a JSON object")
    sent = [m["content"] for m in result.messages if m["role"] == "tool"]
    assert sent == [f"Error: {e}" for e in errors]
