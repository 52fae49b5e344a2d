"""The OpenAI chat schema as llama-server speaks it: pure functions.

Building a request, checking a user's arguments, reading a reply and turning
an error body into an exception happen here, once, for the sync and the async
model alike; those classes only move the bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from .. import chat_options
from ..errors import APIError, JinjaRequiredError
from ..types import ROLES, ChatMessage, Completion, Usage
from . import replies
from .images import check_parts
from .refusals import classify
from .text import check_text, check_unicode

CHAT_PATH = "/chat/completions"
HEALTH_PATH = "/health"


def check_message(message: object) -> str:
    """The user's message, or TypeError/ValueError before anything is sent.

    >>> check_message(3)
    Traceback (most recent call last):
    ...
    TypeError: message must be a str, not int
    """
    return check_text(message, "message")


def check_history(history: object) -> list[ChatMessage]:
    """A copy of the history after checking its shape; None is no history.

    >>> check_history([{"role": "system", "content": "Be brief."}])
    [{'role': 'system', 'content': 'Be brief.'}]
    >>> check_history([{"role": "robot", "content": "hi"}])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: history[0] has an unknown role 'robot' (use one of: assistant, ...)
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise TypeError(
            "history must be a list of {'role': ..., 'content': ...} dicts, "
            f"not {type(history).__name__}"
        )
    checked: list[ChatMessage] = []
    for index, item in enumerate(history):
        if not isinstance(item, Mapping):
            raise TypeError(
                f"history[{index}] must be a dict with 'role' and 'content', "
                f"not {type(item).__name__}"
            )
        calls = item.get("tool_calls") if item.get("role") == "assistant" else None
        # An assistant message made only of tool calls may have no content.
        required = {"role"} if calls else {"role", "content"}
        missing = required - set(item)
        if missing:
            raise ValueError(f"history[{index}] lacks {', '.join(sorted(missing))}")
        role, content = item["role"], item.get("content")
        if role not in ROLES:
            raise ValueError(
                f"history[{index}] has an unknown role {role!r} "
                f"(use one of: {', '.join(sorted(ROLES))})"
            )
        if content is None and calls:
            content = ""
        if isinstance(content, list):  # OpenAI content parts: text and images
            parts = check_parts(content, f"history[{index}]['content']")
            checked.append({"role": role, "content": parts})  # type: ignore[typeddict-item]
            continue
        if not isinstance(content, str):
            raise TypeError(
                f"history[{index}]['content'] must be a str or a list of content "
                f"parts, not {type(content).__name__}"
            )
        check_unicode(content, f"history[{index}]['content']")
        message = ChatMessage(role=role, content=content)
        replies.check_message_extras(index, item, message)
        checked.append(message)
    return checked


def chat_messages(message: object, history: object = None) -> list[ChatMessage]:
    """The full message list of one ``chat()``: history, then the message."""
    text = check_message(message)
    messages = check_history(history)
    messages.append(ChatMessage(role="user", content=text))
    return messages


def prompt_messages(
    prompt: str | Sequence[ChatMessage], history: Sequence[ChatMessage] | None
) -> list[ChatMessage]:
    """The checked messages of a prompt after its ``history``, or of a whole
    list of messages (then without a history), as ``act()`` and ``parse()`` take.

    >>> prompt_messages("Hi", [{"role": "system", "content": "Be brief."}])[-1]
    {'role': 'user', 'content': 'Hi'}
    >>> prompt_messages([{"role": "user", "content": "Hi"}], [])
    Traceback (most recent call last):
    ...
    TypeError: give either a prompt with a history, or a list of messages
    >>> prompt_messages([], None)
    Traceback (most recent call last):
    ...
    ValueError: messages must hold at least one message
    """
    if isinstance(prompt, str):
        messages = check_history(history)
        messages.append(ChatMessage(role="user", content=check_message(prompt)))
        return messages
    if history is not None:
        raise TypeError("give either a prompt with a history, or a list of messages")
    messages = check_history(prompt)
    if not messages:
        raise ValueError("messages must hold at least one message")
    return messages


def check_options(options: Mapping[str, object]) -> dict[str, object]:
    """The per-request options as the server takes them; None means default.

    >>> check_options({"temperature": 0, "stop": "END", "seed": None})
    {'temperature': 0, 'stop': ['END']}
    >>> check_options({"temprature": 0})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: unknown option 'temprature' (known: cache_prompt, ...)
    """
    checked: dict[str, object] = {}
    for name, value in options.items():
        check = _OPTION_CHECKS.get(name)
        if check is None:
            known = ", ".join(sorted(_OPTION_CHECKS))
            raise TypeError(f"unknown option {name!r} (known: {known})")
        if value is not None:
            checked[name] = check(name, value)
    return chat_options.finish(checked)


def _number(name: str, value: object, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value):  # JSON has no inf nor NaN
        raise ValueError(f"{name} must be a finite number, not {value}")
    if not low <= value <= high:
        limit = f"between {low:g} and {high:g}" if high < math.inf else f">= {low:g}"
        raise ValueError(f"{name} must be {limit}, not {value}")
    return value


def _integer(name: str, value: object, low: int | None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, not {value}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, not {value}")
    return value


# llama-server keeps a seed as 32 bits: a larger one wraps (2**32 + 5 samples
# as 5), and 2**32 - 1 (also what -1 wraps to) means "a random seed".
RANDOM_SEED = 2**32 - 1


def _seed(name: str, value: object) -> int:
    """A seed that reproduces the same reply: 0 to 2**32 - 2.

    >>> _seed("seed", 42)
    42
    >>> _seed("seed", -1)
    Traceback (most recent call last):
    ...
    ValueError: seed -1 asks for a random seed: leave seed out (None) for that
    """
    seed = _integer(name, value, None)
    if seed in (-1, RANDOM_SEED):
        raise ValueError(f"{name} {seed} asks for a random seed: leave {name} out (None) for that")
    if not 0 <= seed < RANDOM_SEED:
        raise ValueError(
            f"{name} must be between 0 and {RANDOM_SEED - 1} (servers keep 32 bits: a "
            f"larger seed would silently repeat a smaller one's replies), not {seed}"
        )
    return seed


def _stop(name: str, value: object) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise TypeError(f"{name} must be a str or a list of str")
    if not all(items):
        raise ValueError(f"{name} strings must not be empty")
    for item in items:
        check_unicode(item, name)
    return list(items)


def _response_format(name: str, value: object) -> dict[str, object]:
    """A JSON schema (dict or pydantic model class) as llama-server takes it."""
    schema_of = getattr(value, "model_json_schema", None)
    if isinstance(value, type) and callable(schema_of):
        value = schema_of()
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a JSON schema dict or a pydantic model class, "
            f"not {type(value).__name__}"
        )
    fmt = dict(value)
    if fmt.get("type") == "json_object" and "schema" not in fmt:
        # llama-server applies no grammar to a bare json_object: say "object".
        return {"type": "json_object", "schema": {"type": "object"}}
    if fmt.get("type") in ("json_object", "json_schema", "text"):
        return fmt  # already an OpenAI response_format
    try:
        json.dumps(fmt, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not a JSON schema: {exc}") from None
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt}}


_OPTION_CHECKS: dict[str, Callable[[str, object], object]] = {
    "temperature": lambda n, v: _number(n, v, 0.0),
    "top_p": lambda n, v: _number(n, v, 0.0, 1.0),
    # llama-server reads both as 32-bit integers (n_predict, seed).
    "max_tokens": lambda n, v: _integer(n, v, 1, 2**31 - 1),
    "seed": lambda n, v: _seed(n, v),
    "stop": _stop,
    "response_format": _response_format,
    **chat_options.CHECKS,
}


# One encoder for every body: json.dumps() with options builds a new one each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def chat_body(
    model: str,
    messages: Sequence[ChatMessage],
    options: Mapping[str, object] | None = None,
    *,
    stream: bool = False,
) -> bytes:
    """The JSON body of a chat completion request (options already checked).

    >>> chat_body("m", [{"role": "user", "content": "Hi"}])
    b'{"model":"m","messages":[{"role":"user","content":"Hi"}]}'
    """
    payload: dict[str, object] = {"model": model, "messages": list(messages)}
    if options:
        payload.update(options)
    if stream:
        # Usage arrives in the last event only when asked for.
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    chat_options.merge_extra_body(payload)
    try:
        text = _ENCODER.encode(payload)
    except ValueError as exc:  # inf or NaN in a schema given as an OpenAI response_format
        raise ValueError(f"the request cannot be sent as JSON: {exc}") from None
    return text.encode()


def reply_limit(options: Mapping[str, object]) -> object:
    """The ``max_tokens`` a request will carry, None if it carries none:
    ``extra_body`` is merged last, so its limit wins.

    >>> reply_limit({"max_tokens": 8, "extra_body": {"max_tokens": 900}})
    900
    >>> reply_limit({"extra_body": {"n_predict": 4}})
    4
    """
    extra = options.get("extra_body")
    if isinstance(extra, Mapping):
        for key in ("max_tokens", "max_completion_tokens", "n_predict"):
            if extra.get(key) is not None:
                return extra[key]
    return options.get("max_tokens")


def parse_chat_reply(body: bytes | str) -> ChatMessage:
    """The assistant's message of a chat completion response.

    >>> parse_chat_reply(b'{"choices":[{"message":{"role":"assistant","content":"Hi"}}]}')
    {'role': 'assistant', 'content': 'Hi'}
    """
    # The message alone: usage, timings and logprobs are complete()'s.
    _, choice, content = _first_choice(body)
    calls = replies.parse_tool_calls(choice["message"].get("tool_calls"))
    reasoning = replies.parse_reasoning(choice["message"])
    if choice.get("finish_reason") == "length" and not content and reasoning:
        replies.warn_cut_off()
    return replies.assistant_message(content, calls, reasoning)


def _first_choice(body: bytes | str) -> tuple[dict[str, Any], Mapping[str, Any], str]:
    data = json_object(body)
    try:
        choice = data["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise APIError(f"unexpected reply from the server: {preview(body)}", body=data) from None
    if not isinstance(content, str):
        raise APIError(f"unexpected reply content: {preview(body)}", body=data)
    return data, choice, content


def parse_completion(body: bytes | str) -> Completion:
    """Message, finish reason, usage and timings of a chat completion response."""
    data, choice, content = _first_choice(body)
    calls = replies.parse_tool_calls(choice["message"].get("tool_calls"))
    reasoning = replies.parse_reasoning(choice["message"])
    return Completion(
        message=replies.assistant_message(content, calls, reasoning),
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(data.get("usage")),
        timings=parse_timings(data.get("timings")),
        tool_calls=calls,
        reasoning=reasoning,
        logprobs=replies.parse_logprobs(choice.get("logprobs")),
    )


def parse_usage(data: object) -> Usage:
    """Token counts from a ``usage`` object; missing counts are 0."""
    if not isinstance(data, Mapping):
        return Usage()
    counts = {
        key: value
        for key in ("prompt_tokens", "completion_tokens", "total_tokens")
        if isinstance(value := data.get(key), int) and not isinstance(value, bool)
    }
    return Usage(**counts)


def parse_timings(data: object) -> dict[str, float]:
    """The numeric figures of llama-server's ``timings`` object."""
    if not isinstance(data, Mapping):
        return {}
    return {
        str(key): float(value)
        for key, value in data.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def first_model(body: bytes | str) -> str:
    """The first model id of a ``GET /models`` answer.

    >>> first_model(b'{"object":"list","data":[{"id":"tiny","object":"model"}]}')
    'tiny'
    """
    data = json_object(body)
    models = data.get("data")
    if isinstance(models, list) and models and isinstance(models[0], dict):
        name = models[0].get("id")
        if isinstance(name, str) and name:
            return name
    raise APIError(f"the server lists no model: {preview(body)}", body=data)


def api_error(status: int, body: bytes | str) -> APIError:
    """The exception for an HTTP error answer, with the server's own message.

    >>> str(api_error(400, b'{"error":{"message":"too long","type":"exceed_context"}}'))
    'HTTP 400: too long (exceed_context)'
    """
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return APIError(preview(body) or "(empty body)", status=status, body=body)
    message: str | None = None
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            text = error.get("message")
            kind = error.get("type")
            if isinstance(text, str):
                message = text if not isinstance(kind, str) else f"{text} ({kind})"
        elif isinstance(error, str):
            message = error
    if message is not None and "requires --jinja flag" in message:
        return JinjaRequiredError(
            f"{message}: this server cannot take tools; serve the model with "
            "runtime_args=['--jinja'] (llama-server)",
            status=status,
            body=data,
        )
    return classify(status, message or preview(body), data)


def json_object(body: bytes | str) -> dict[str, Any]:
    """A server's JSON object answer, or an APIError that shows the body."""
    try:
        data = json.loads(body)
    except ValueError:
        raise APIError(f"the server's reply is not JSON: {preview(body)}", body=body) from None
    if not isinstance(data, dict):
        raise APIError(f"unexpected reply from the server: {preview(body)}", body=data)
    return cast(dict[str, Any], data)


def preview(body: bytes | str, limit: int = 300) -> str:
    """The start of a body, for an error message."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text if len(text) <= limit else text[:limit] + "..."
