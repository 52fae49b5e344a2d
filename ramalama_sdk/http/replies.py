"""The parts of a reply beyond its text: tool calls, reasoning, logprobs (pure).

Also the same parts in a history the user sends back: assistant messages
with ``tool_calls`` and ``tool`` messages answering them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .. import caller
from ..errors import APIError
from ..types import ChatMessage, TokenLogprob, ToolCall, ToolCallDict, TopLogprob


class ThinkingCutOffWarning(UserWarning):
    """``max_tokens`` ran out while the model was still thinking: the answer is
    empty. Raise ``max_tokens``, or turn thinking off for the request
    (``chat_template_kwargs={"enable_thinking": False}`` or
    ``reasoning_effort="none"``)."""


def assistant_message(
    content: str, calls: tuple[ToolCall, ...], reasoning: str | None
) -> ChatMessage:
    """The assistant's message as history takes it back.

    >>> assistant_message("", (ToolCall("c1", "add", {"a": 1}),), None)  # doctest: +ELLIPSIS
    {'role': 'assistant', 'content': '', 'tool_calls': [{'id': 'c1', 'type': 'function', ...}]}
    """
    message = ChatMessage(role="assistant", content=content)
    if calls:
        message["tool_calls"] = [call.to_dict() for call in calls]
    if reasoning:
        message["reasoning_content"] = reasoning
    return message


def parse_reasoning(message: Mapping[str, Any]) -> str | None:
    """A thinking model's reasoning (llama-server: ``reasoning_content``;
    vLLM's newer servers: ``reasoning``), None when there is none."""
    for key in ("reasoning_content", "reasoning"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def parse_tool_calls(raw: object) -> tuple[ToolCall, ...]:
    """The ``tool_calls`` of a reply message, their arguments parsed.

    >>> parse_tool_calls([{"id": "a", "type": "function",
    ...                    "function": {"name": "add", "arguments": '{"x": 1}'}}])
    (ToolCall(id='a', name='add', arguments={'x': 1}),)
    """
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise APIError(f"unexpected tool_calls in the reply: {raw!r:.200}")
    calls = []
    for index, item in enumerate(raw):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise APIError(f"unexpected tool call in the reply: {item!r:.200}")
        call_id = item.get("id")
        if not isinstance(call_id, str) or not call_id:
            call_id = f"call_{index}"  # some servers send none; the loop needs one
        calls.append(ToolCall(call_id, function["name"], arguments_of(function.get("arguments"))))
    return tuple(calls)


def arguments_of(raw: object) -> dict[str, Any]:
    """Arguments sent as a JSON string (or an object); {} when there are none.

    An argument text that is not a JSON object comes back as
    ``{"": text}``, so that the loop can tell the model what went wrong.
    """
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {"": raw}
        if isinstance(value, dict):
            return value
    return {"": str(raw)}


def parse_logprobs(raw: object) -> tuple[TokenLogprob, ...] | None:
    """``choices[0].logprobs.content`` as typed entries; None when absent."""
    if not isinstance(raw, Mapping):
        return None
    content = raw.get("content")
    if not isinstance(content, list):
        return None
    return tuple(_token(entry) for entry in content if isinstance(entry, Mapping))


def _token(entry: Mapping[str, Any]) -> TokenLogprob:
    top = entry.get("top_logprobs")
    candidates = tuple(
        TopLogprob(str(c.get("token", "")), _float(c.get("logprob")), _bytes(c.get("bytes")))
        for c in (top if isinstance(top, list) else [])
        if isinstance(c, Mapping)
    )
    return TokenLogprob(
        str(entry.get("token", "")),
        _float(entry.get("logprob")),
        _bytes(entry.get("bytes")),
        candidates,
    )


def _float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _bytes(value: object) -> list[int] | None:
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return list(value)
    return None


def warn_cut_off() -> None:
    """Warn that only the reasoning arrived: the caller of ``chat()`` sees only ""."""
    caller.warn(
        "max_tokens ran out while the model was thinking: the answer is empty "
        "(raise max_tokens, or pass chat_template_kwargs={'enable_thinking': False})",
        ThinkingCutOffWarning,
    )


class ToolCallAssembler:
    """Tool calls of a stream, put together from their deltas.

    >>> calls = ToolCallAssembler()
    >>> calls.add([{"index": 0, "id": "a", "function": {"name": "add", "arguments": '{"x"'}}])
    >>> calls.add([{"index": 0, "function": {"arguments": ': 2}'}}])
    >>> calls.result()
    (ToolCall(id='a', name='add', arguments={'x': 2}),)
    """

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, str]] = {}

    def add(self, deltas: object) -> None:
        if not isinstance(deltas, list):
            return
        for position, delta in enumerate(deltas):
            if not isinstance(delta, Mapping):
                continue
            index = delta.get("index", position)
            call = self._calls.setdefault(
                index if isinstance(index, int) else position,
                {"id": "", "name": "", "arguments": ""},
            )
            if isinstance(delta.get("id"), str):
                call["id"] = delta["id"]
            function = delta.get("function")
            if isinstance(function, Mapping):
                if isinstance(function.get("name"), str):
                    call["name"] += function["name"]
                if isinstance(function.get("arguments"), str):
                    call["arguments"] += function["arguments"]

    def result(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(call["id"] or f"call_{index}", call["name"], arguments_of(call["arguments"]))
            for index, call in sorted(self._calls.items())
        )


def check_message_extras(index: int, item: Mapping[str, Any], message: ChatMessage) -> None:
    """Copy and check the tool and reasoning keys of a history entry."""
    where = f"history[{index}]"
    role = message["role"]
    calls = item.get("tool_calls")
    if calls is not None:
        if role != "assistant":
            raise ValueError(f"{where}: only an assistant message has tool_calls")
        message["tool_calls"] = _check_calls(where, calls)
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(f"{where}: a 'tool' message needs the tool_call_id it answers")
        message["tool_call_id"] = call_id
    for key in ("reasoning_content", "name"):
        value = item.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise TypeError(f"{where}[{key!r}] must be a str, not {type(value).__name__}")
        if key == "reasoning_content" and role != "assistant":
            raise ValueError(f"{where}: only an assistant message has reasoning_content")
        message[key] = value


def _check_calls(where: str, calls: object) -> list[ToolCallDict]:
    if not isinstance(calls, list):
        raise TypeError(f"{where}['tool_calls'] must be a list")
    checked: list[ToolCallDict] = []
    for number, call in enumerate(calls):
        at = f"{where}['tool_calls'][{number}]"
        if isinstance(call, ToolCall):
            checked.append(call.to_dict())
            continue
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f"{at} must be {{'id': ..., 'function': {{'name': ..., ...}}}}")
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            try:
                arguments = json.dumps(arguments, ensure_ascii=False)
            except (TypeError, ValueError):
                raise TypeError(f"{at}: arguments must be JSON") from None
        call_id = call.get("id")
        if not isinstance(call_id, str) or not call_id:
            raise ValueError(f"{at} needs an 'id' (the tool message answers it)")
        checked.append(
            ToolCallDict(
                id=call_id,
                type="function",
                function={"name": function["name"], "arguments": arguments},
            )
        )
    return checked
