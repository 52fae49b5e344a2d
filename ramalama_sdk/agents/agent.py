"""``act()``: ask the model, run the tools it calls, send the results back.

The loop is a generator of pure decisions: it yields an ``Ask`` (send these
messages) or a ``RunTools`` (run these calls) and receives the answer. The
sync model drives it with blocking calls, the async model with awaits (tool
calls of one turn run concurrently there), so both loops are this one.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MaxRoundsError, ReplyCutOffError
from ..http.protocol import check_history, check_message, check_options
from ..types import ChatMessage, Completion, ToolCall
from .tools import Tool, ToolArgumentsError, tool_result_text, tools_from

MessageCallback = Callable[[ChatMessage], object]


@dataclass(frozen=True)
class ToolRun:
    """One tool call and what came of it.

    ``result`` is what the function returned (None after an error);
    ``content`` is the text sent back to the model; ``error`` says what went
    wrong (an exception raised by the tool, an unknown tool, bad arguments).
    """

    call: ToolCall
    content: str
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class ActResult:
    """What ``act()`` returns.

    ``completion`` is the model's final answer; ``messages`` the whole
    transcript, from the history given to that answer (pass it as the
    history of a next call); ``tool_runs`` every call with its result.
    """

    completion: Completion
    messages: list[ChatMessage]
    tool_runs: list[ToolRun] = field(default_factory=list)
    rounds: int = 1

    @property
    def content(self) -> str:
        """The final answer's text."""
        return self.completion.content


@dataclass(frozen=True)
class Ask:
    """Step: send ``messages`` with ``options``; answer with the Completion."""

    messages: list[ChatMessage]
    options: dict[str, Any]


@dataclass(frozen=True)
class Prepared:
    """A call ready to run: the function and its converted arguments, or why not."""

    call: ToolCall
    tool: Tool | None
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What running one call gave: a value, or the exception it raised."""

    value: Any = None
    exception: BaseException | None = None


@dataclass(frozen=True)
class RunTools:
    """Step: run these calls; answer with one Outcome each, in order."""

    calls: list[Prepared]


def prepare_act(
    prompt: str | Sequence[ChatMessage],
    history: Sequence[ChatMessage] | None,
    tools: object,
    max_rounds: int,
    on_message: MessageCallback | None,
    options: Mapping[str, Any],
) -> tuple[list[ChatMessage], dict[str, Tool]]:
    """Check everything before anything runs: messages, tools, options."""
    if isinstance(prompt, str):
        messages = check_history(history)
        messages.append(ChatMessage(role="user", content=check_message(prompt)))
    else:
        if history is not None:
            raise TypeError("give either a prompt with a history, or a list of messages")
        messages = check_history(prompt)
        if not messages:
            raise ValueError("messages must hold at least one message")
    toolset = tools_from(tools)
    if not toolset:
        raise ValueError("act() needs at least one tool")
    for tool in toolset:
        if tool.function is None:
            raise TypeError(
                f"act() runs its tools: {tool.name!r} is a bare schema; give a function "
                "or a pydantic class"
            )
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an int >= 1, not {max_rounds!r}")
    if on_message is not None and not callable(on_message):
        raise TypeError("on_message must be a callable or None")
    if "tools" in options:
        raise TypeError("act() takes its tools as its second argument, not as tools=")
    check_options({**options, "tools": toolset})  # every option, before the first request
    return messages, {tool.name: tool for tool in toolset}


def start(
    prompt: str | Sequence[ChatMessage],
    history: Sequence[ChatMessage] | None,
    tools: object,
    max_rounds: int,
    on_message: MessageCallback | None,
    raise_tool_errors: bool,
    options: Mapping[str, Any],
) -> Generator[Ask | RunTools, object, ActResult]:
    """The checked loop of one ``act()`` call, ready for a driver."""
    if not isinstance(raise_tool_errors, bool):
        raise TypeError("raise_tool_errors must be True or False")
    messages, toolset = prepare_act(prompt, history, tools, max_rounds, on_message, options)
    return act_steps(
        messages,
        toolset,
        options,
        max_rounds=max_rounds,
        on_message=on_message,
        raise_tool_errors=raise_tool_errors,
    )


def act_steps(
    messages: list[ChatMessage],
    tools: dict[str, Tool],
    options: Mapping[str, Any],
    *,
    max_rounds: int,
    on_message: MessageCallback | None,
    raise_tool_errors: bool,
) -> Generator[Ask | RunTools, object, ActResult]:
    """The loop, as steps for a driver to perform."""
    transcript = list(messages)
    runs: list[ToolRun] = []
    first = {**options, "tools": list(tools.values())}
    # A forced call ("required", or a tool's name) holds for the first round
    # only; asked again, the model could never give its answer.
    later = dict(first)
    if later.get("tool_choice") not in (None, "auto", "none"):
        del later["tool_choice"]
    for round_number in range(1, max_rounds + 1):
        answer = yield Ask(list(transcript), first if round_number == 1 else later)
        assert isinstance(answer, Completion)
        _append(transcript, answer.message, on_message)
        if not answer.tool_calls:
            return ActResult(answer, transcript, runs, round_number)
        _check_not_cut_off(answer)
        prepared = [_prepare(call, tools) for call in answer.tool_calls]
        outcomes = yield RunTools(prepared)
        assert isinstance(outcomes, list)
        for ready, outcome in zip(prepared, outcomes, strict=True):
            run = _settle(ready, outcome, raise_tool_errors)
            runs.append(run)
            reply = ChatMessage(
                role="tool", content=run.content, tool_call_id=run.call.id, name=run.call.name
            )
            _append(transcript, reply, on_message)
    raise MaxRoundsError(
        f"the model still called tools after max_rounds={max_rounds} rounds; the "
        "transcript so far is in .messages",
        messages=transcript,
        tool_runs=runs,
    )


def _append(transcript: list[ChatMessage], message: ChatMessage, on_message: object) -> None:
    transcript.append(message)
    if callable(on_message):
        on_message(message)


def unparsed_arguments(call: ToolCall) -> str | None:
    """The raw text of arguments that did not parse as a JSON object, else None.

    ``arguments_of`` keeps such a text as ``{"": text}``.

    >>> unparsed_arguments(ToolCall("c", "add", {"": '{"a": 1'})), unparsed_arguments(
    ...     ToolCall("c", "add", {"a": 1}))
    ('{"a": 1', None)
    """
    args = call.arguments
    if len(args) == 1 and "" in args:
        return str(args[""])
    return None


def _check_not_cut_off(answer: Completion) -> None:
    """A reply that ``max_tokens`` cut off while it called tools: its last call
    may be unfinished (llama-server closes a partial JSON object, or leaves
    a text that is none, kept as ``{"": text}``), and asking again would be
    cut off the same way. No call is run: the caller must raise the limit.

    (A grammar keeps the arguments to the tools' schemas; only the limit on
    the reply's length leaves them unfinished.)
    """
    if answer.finish_reason != "length" or not answer.tool_calls:
        return
    last = answer.tool_calls[-1]
    text = unparsed_arguments(last)
    shown = repr(text[:80]) if text is not None else json.dumps(last.arguments)[:80]
    raise ReplyCutOffError(
        f"the reply was cut off at max_tokens while it called tools: the arguments of "
        f"its last call, {last.name!r} ({shown}), may be unfinished, so no tool was run; "
        "raise max_tokens"
    )


def _prepare(call: ToolCall, tools: Mapping[str, Tool]) -> Prepared:
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(sorted(tools))
        return Prepared(call, None, error=f"there is no tool {call.name!r} (tools: {known})")
    text = unparsed_arguments(call)
    if text is not None:
        return Prepared(call, tool, error=f"the arguments are not a JSON object: {text[:200]}")
    try:
        args, kwargs = tool.bind(call.arguments)
    except ToolArgumentsError as exc:
        return Prepared(call, tool, error=f"invalid arguments: {exc}")
    return Prepared(call, tool, args, kwargs)


def _settle(ready: Prepared, outcome: Outcome, raise_tool_errors: bool) -> ToolRun:
    if ready.error is not None:
        return ToolRun(ready.call, f"Error: {ready.error}", error=ready.error)
    if outcome.exception is not None:
        if raise_tool_errors:
            raise outcome.exception
        reason = f"{type(outcome.exception).__name__}: {outcome.exception}"
        return ToolRun(ready.call, f"Error: {reason}", error=reason)
    return ToolRun(ready.call, tool_result_text(outcome.value), outcome.value)


# -- drivers ---------------------------------------------------------------------


def run_one(ready: Prepared) -> Outcome:
    """Run one prepared call in this thread (a coroutine function is run to its end)."""
    if ready.error is not None or ready.tool is None or ready.tool.function is None:
        return Outcome()
    try:
        value = ready.tool.function(*ready.args, **ready.kwargs)
        if inspect.isawaitable(value):
            value = asyncio.run(_awaited(value))
        return Outcome(value)
    except Exception as exc:  # sent back to the model, or re-raised by _settle
        return Outcome(exception=exc)


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


async def run_one_async(ready: Prepared) -> Outcome:
    """Run one prepared call without blocking the loop: a coroutine function
    is awaited, a plain function runs in a worker thread."""
    if ready.error is not None or ready.tool is None or ready.tool.function is None:
        return Outcome()
    function = ready.tool.function
    try:
        if inspect.iscoroutinefunction(function):
            value = await function(*ready.args, **ready.kwargs)
        else:
            value = await asyncio.to_thread(function, *ready.args, **ready.kwargs)
            if inspect.isawaitable(value):
                value = await value
        return Outcome(value)
    except Exception as exc:
        return Outcome(exception=exc)


def drive(
    steps: Generator[Ask | RunTools, object, ActResult],
    complete: Callable[[list[ChatMessage], dict[str, Any]], Completion],
) -> ActResult:
    """Run the loop with blocking calls; tool calls run one after the other."""
    answer: object = None
    try:
        while True:
            step = steps.send(answer)
            if isinstance(step, Ask):
                answer = complete(step.messages, step.options)
            else:
                answer = [run_one(ready) for ready in step.calls]
    except StopIteration as done:
        result: ActResult = done.value
        return result


async def drive_async(
    steps: Generator[Ask | RunTools, object, ActResult],
    complete: Callable[[list[ChatMessage], dict[str, Any]], Awaitable[Completion]],
) -> ActResult:
    """Run the loop with awaits; the tool calls of one turn run concurrently."""
    answer: object = None
    try:
        while True:
            step = steps.send(answer)
            if isinstance(step, Ask):
                answer = await complete(step.messages, step.options)
            else:
                answer = list(await asyncio.gather(*(run_one_async(r) for r in step.calls)))
    except StopIteration as done:
        result: ActResult = done.value
        return result
