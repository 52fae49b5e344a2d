"""``act()``: ask the model, run the tools it calls, send the results back.

The loop is a generator of pure decisions: it yields an ``Ask`` (send these
messages), a ``RunTools`` (run these calls) or a ``Notify`` (tell the
``on_message`` callback) and receives the answer. One driver performs the
steps (``models/_async/acting.py``, with its generated blocking twin): with
awaits, the tool calls of one turn run concurrently; blocking, in turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import MaxRoundsError, ToolCallCutOffError
from ..http.images import with_images
from ..http.protocol import check_options, prompt_messages
from ..tools.definitions import Tool, ToolArgumentsError, tool_result_text, tools_from
from ..types import ChatMessage, Completion, ToolCall

MessageCallback = Callable[[ChatMessage], object]
CUT_OFF = "the call was cut off by the token limit (max_tokens) before its arguments were complete"
NOT_AN_OBJECT = "the arguments are not a JSON object"


@dataclass(frozen=True)
class ToolRun:
    """One tool call and what came of it.

    ``result`` is what the function returned (None when it raised);
    ``content`` is the text sent back to the model; ``error`` says what went
    wrong (an exception raised by the tool, a result that cannot be turned
    into text, an unknown tool, bad arguments, a call cut off by
    ``max_tokens``).
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


@dataclass(frozen=True)
class Notify:
    """Step: give ``message`` to ``callback`` (awaited if it is a coroutine)."""

    callback: MessageCallback
    message: ChatMessage


ActStep = Ask | RunTools | Notify


def prepare_act(
    prompt: str | Sequence[ChatMessage],
    history: Sequence[ChatMessage] | None,
    tools: object,
    max_rounds: int,
    on_message: MessageCallback | None,
    options: Mapping[str, Any],
) -> tuple[list[ChatMessage], dict[str, Tool], dict[str, Any]]:
    """Check everything before anything runs: messages, tools, options; the
    messages (``images`` joined to the last), the tools, the options left."""
    messages = prompt_messages(prompt, history)
    messages, options = with_images(messages, options)
    toolset = act_tools(tools)
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an int >= 1, not {max_rounds!r}")
    if on_message is not None and not callable(on_message):
        raise TypeError("on_message must be a callable or None")
    if "tools" in options:
        raise TypeError("act() takes its tools as its second argument, not as tools=")
    check_options({**options, "tools": toolset})  # every option, before the first request
    return messages, {tool.name: tool for tool in toolset}, options


def act_tools(tools: object) -> list[Tool]:
    """The tools of ``act()``, checked: at least one, and each one runnable."""
    toolset = tools_from(tools)
    if not toolset:
        raise ValueError("act() needs at least one tool")
    for tool in toolset:
        if tool.function is None:
            raise TypeError(
                f"act() runs its tools: {tool.name!r} is a bare schema; give a function "
                "or a pydantic class"
            )
    return toolset


def start(
    prompt: str | Sequence[ChatMessage],
    history: Sequence[ChatMessage] | None,
    tools: object,
    max_rounds: int,
    on_message: MessageCallback | None,
    raise_tool_errors: bool,
    options: Mapping[str, Any],
) -> Generator[ActStep, object, ActResult]:
    """The checked loop of one ``act()`` call, ready for a driver."""
    if not isinstance(raise_tool_errors, bool):
        raise TypeError("raise_tool_errors must be True or False")
    messages, toolset, rest = prepare_act(prompt, history, tools, max_rounds, on_message, options)
    return act_steps(
        messages,
        toolset,
        rest,
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
) -> Generator[ActStep, object, ActResult]:
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
        asked = first if round_number == 1 else later
        answer = yield Ask(list(transcript), asked)
        assert isinstance(answer, Completion)
        yield from _append(transcript, answer.message, on_message)
        cut_off = answer.finish_reason == "length"
        forced = asked.get("tool_choice") not in (None, "auto", "none")
        if not answer.tool_calls:
            if cut_off and forced:  # it had to be a call: cut before its name ended
                raise _cut_off(options, transcript, runs, None)
            return ActResult(answer, transcript, runs, round_number)
        if cut_off:
            # The last call may be unfinished even where its arguments parse
            # (llama-server closes a partial JSON object), and asked again with
            # the same limit the model would be cut off again: no call is run.
            for call in answer.tool_calls:
                runs.append(ToolRun(call, f"Error: {CUT_OFF}", error=CUT_OFF))
                yield from _append(transcript, _tool_message(runs[-1]), on_message)
            raise _cut_off(options, transcript, runs, answer.tool_calls[-1])
        prepared = [_prepare(call, tools) for call in answer.tool_calls]
        outcomes = yield RunTools(prepared)
        assert isinstance(outcomes, list)
        for ready, outcome in zip(prepared, outcomes, strict=True):
            runs.append(_settle(ready, outcome, raise_tool_errors))
            yield from _append(transcript, _tool_message(runs[-1]), on_message)
    raise MaxRoundsError(
        f"the model still called tools after max_rounds={max_rounds} rounds; the "
        "transcript so far is in .messages",
        messages=transcript,
        tool_runs=runs,
    )


def _cut_off(
    options: Mapping[str, Any],
    transcript: list[ChatMessage],
    runs: list[ToolRun],
    last: ToolCall | None,
) -> ToolCallCutOffError:
    limit = options.get("max_tokens")
    which = ""
    if last is not None:
        text = unparsed_arguments(last)
        shown = repr(text[:80]) if text is not None else json.dumps(last.arguments)[:80]
        which = f" (its last call, {last.name!r} with {shown}, may be unfinished)"
    return ToolCallCutOffError(
        f"the reply was cut off by max_tokens{f'={limit}' if limit else ''} while it called "
        f"tools{which}, so no tool of it was run; raise max_tokens. The transcript so far "
        "is in .messages",
        messages=transcript,
        tool_runs=runs,
    )


def _tool_message(run: ToolRun) -> ChatMessage:
    return ChatMessage(
        role="tool", content=run.content, tool_call_id=run.call.id, name=run.call.name
    )


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


def _append(
    transcript: list[ChatMessage], message: ChatMessage, on_message: MessageCallback | None
) -> Generator[Notify, object, None]:
    transcript.append(message)
    if on_message is not None:
        yield Notify(on_message, message)


def _prepare(call: ToolCall, tools: Mapping[str, Tool]) -> Prepared:
    tool = tools.get(call.name)
    if tool is None:
        known = ", ".join(sorted(tools))
        return Prepared(call, None, error=f"there is no tool {call.name!r} (tools: {known})")
    text = unparsed_arguments(call)
    if text is not None:
        return Prepared(call, tool, error=f"{NOT_AN_OBJECT}: {text[:200]}")
    try:
        args, kwargs = tool.bind(call.arguments)
    except ToolArgumentsError as exc:
        return Prepared(call, tool, error=f"invalid arguments: {exc}")
    return Prepared(call, tool, args, kwargs)


def _settle(ready: Prepared, outcome: Outcome, raise_tool_errors: bool) -> ToolRun:
    if ready.error is not None:
        return ToolRun(ready.call, f"Error: {ready.error}", error=ready.error)
    exception = outcome.exception
    if exception is None:
        try:
            return ToolRun(ready.call, tool_result_text(outcome.value), outcome.value)
        except Exception as exc:  # a result that cannot become text fails like the tool
            exception = exc
            outcome = Outcome(outcome.value, exc)
    if raise_tool_errors:
        raise exception
    reason = f"{type(exception).__name__}: {_text_of(exception)}"
    if outcome.value is not None:
        reason = f"the result ({type(outcome.value).__name__}) cannot be sent as text: {reason}"
    return ToolRun(ready.call, f"Error: {reason}", outcome.value, error=reason)


def _text_of(exception: BaseException) -> str:
    try:
        return str(exception)
    except Exception:  # an exception whose own text fails
        return repr(type(exception))
