"""The OpenAI chat schema as llama-server speaks it: pure functions.

Building a request, checking a user's arguments, reading a reply and turning
an error body into an exception happen here, once, for the sync and the async
model alike; those classes only move the bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from .errors import APIError
from .types import ROLES, ChatMessage

CHAT_PATH = "/chat/completions"
HEALTH_PATH = "/health"


def check_message(message: object) -> str:
    """The user's message, or TypeError/ValueError before anything is sent.

    >>> check_message(3)
    Traceback (most recent call last):
    ...
    TypeError: message must be a str, not int
    """
    if not isinstance(message, str):
        raise TypeError(f"message must be a str, not {type(message).__name__}")
    _check_text(message, "message")
    return message


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Lone surrogates cannot be sent as JSON to llama-server.
        raise ValueError(f"{what} is not valid Unicode text: {exc.reason}") from None


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
        missing = {"role", "content"} - set(item)
        if missing:
            raise ValueError(f"history[{index}] lacks {', '.join(sorted(missing))}")
        role, content = item["role"], item["content"]
        if role not in ROLES:
            raise ValueError(
                f"history[{index}] has an unknown role {role!r} "
                f"(use one of: {', '.join(sorted(ROLES))})"
            )
        if not isinstance(content, str):
            raise TypeError(
                f"history[{index}]['content'] must be a str, not {type(content).__name__}"
            )
        _check_text(content, f"history[{index}]['content']")
        checked.append(ChatMessage(role=role, content=content))
    return checked


def chat_messages(message: object, history: object = None) -> list[ChatMessage]:
    """The full message list of one ``chat()``: history, then the message."""
    text = check_message(message)
    messages = check_history(history)
    messages.append(ChatMessage(role="user", content=text))
    return messages


def chat_body(model: str, messages: Sequence[ChatMessage]) -> bytes:
    """The JSON body of a chat completion request.

    >>> chat_body("m", [{"role": "user", "content": "Hi"}])
    b'{"model":"m","messages":[{"role":"user","content":"Hi"}]}'
    """
    payload = {"model": model, "messages": list(messages)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def parse_chat_reply(body: bytes | str) -> ChatMessage:
    """The assistant's message of a chat completion response.

    >>> parse_chat_reply(b'{"choices":[{"message":{"role":"assistant","content":"Hi"}}]}')
    {'role': 'assistant', 'content': 'Hi'}
    """
    data = _load_json(body)
    try:
        message = data["choices"][0]["message"]
        content = message.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise APIError(f"unexpected reply from the server: {_preview(body)}", body=data) from None
    if not isinstance(content, str):
        raise APIError(f"unexpected reply content: {_preview(body)}", body=data)
    return ChatMessage(role="assistant", content=content)


def api_error(status: int, body: bytes | str) -> APIError:
    """The exception for an HTTP error answer, with the server's own message.

    >>> str(api_error(400, b'{"error":{"message":"too long","type":"exceed_context"}}'))
    'HTTP 400: too long (exceed_context)'
    """
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return APIError(_preview(body) or "(empty body)", status=status, body=body)
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
    return APIError(message or _preview(body), status=status, body=data)


def _load_json(body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise APIError(f"the server's reply is not JSON: {_preview(body)}", body=body) from None
    if not isinstance(data, dict):
        raise APIError(f"unexpected reply from the server: {_preview(body)}", body=data)
    return cast(dict[str, Any], data)


def _preview(body: bytes | str, limit: int = 300) -> str:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return text if len(text) <= limit else text[:limit] + "..."
