"""Tokens as the served model sees them: pure request bodies and parsers.

llama-server answers ``POST /tokenize``, ``/detokenize`` and
``/apply-template`` at its root (not under ``/v1``). A chat is counted the
way the server counts it: the messages go through the model's chat template
(``/apply-template``), and the resulting prompt is tokenized with the special
tokens (BOS) that a chat request adds, so the count equals the
``prompt_tokens`` of the server's usage for the same messages. Tools go
into the template too: the model's template writes their schemas into the
prompt, as it does for a chat sent with them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import APIError
from ..http.protocol import check_history, check_options, json_object, preview
from ..http.text import check_text

TOKENIZE_PATH = "/tokenize"
DETOKENIZE_PATH = "/detokenize"
APPLY_TEMPLATE_PATH = "/apply-template"


def tokenize_body(text: object, *, add_special: bool = False) -> bytes:
    """The body of ``POST /tokenize``; special tokens in the text are parsed.

    >>> tokenize_body("Hi")
    b'{"content":"Hi","add_special":false,"parse_special":true}'
    """
    if not isinstance(add_special, bool):
        raise TypeError("add_special must be True or False")
    payload = {"content": check_text(text), "add_special": add_special, "parse_special": True}
    return _dump(payload)


def parse_tokens(body: bytes | str) -> list[int]:
    """The token ids of a ``/tokenize`` answer.

    >>> parse_tokens(b'{"tokens":[1,2,3]}')
    [1, 2, 3]
    """
    tokens = json_object(body).get("tokens")
    if not isinstance(tokens, list) or not all(_is_int(t) for t in tokens):
        raise APIError(f"unexpected /tokenize answer: {preview(body)}")
    return list(tokens)


def detokenize_body(tokens: object) -> bytes:
    """The body of ``POST /detokenize``, after checking the ids.

    >>> detokenize_body([1, 2])
    b'{"tokens":[1,2]}'
    >>> detokenize_body("12")
    Traceback (most recent call last):
    ...
    TypeError: tokens must be a list of int token ids
    """
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise TypeError("tokens must be a list of int token ids")
    if not all(_is_int(t) and t >= 0 for t in tokens):
        raise TypeError("tokens must be a list of int token ids")
    return _dump({"tokens": list(tokens)})


def check_vocabulary(tokens: Sequence[int], size: int | None) -> None:
    """ValueError for an id the model does not have (the server would fail
    with a 500); ``size`` None (not known) checks nothing.

    >>> check_vocabulary([1, 799], 800)
    >>> check_vocabulary([1, 800], 800)
    Traceback (most recent call last):
    ...
    ValueError: token id 800 is not in the vocabulary: ids go from 0 to 799
    """
    if size is None:
        return
    for token in tokens:
        if token >= size:
            raise ValueError(
                f"token id {token} is not in the vocabulary: ids go from 0 to {size - 1}"
            )


def has_images(messages: Sequence[object]) -> bool:
    """Whether a chat holds image content parts.

    >>> has_images([{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}])
    True
    >>> has_images([{"role": "user", "content": "Hi"}])
    False
    """
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(
            isinstance(part, Mapping) and part.get("type") == "image_url" for part in content
        ):
            return True
    return False


def count_tools(text_or_messages: object, tools: object) -> list[dict[str, Any]] | None:
    """The ``tools=`` of ``count_tokens()`` as a chat request carries them
    (checked and converted as ``chat(tools=...)`` does); None for no tools.

    >>> count_tools([{"role": "user", "content": "Hi"}], None) is None
    True
    >>> chat = [{"role": "user", "content": "Hi"}]
    >>> [tool["function"]["name"] for tool in count_tools(chat, [{"name": "add"}])]
    ['add']
    >>> count_tools("Hi", [{"name": "add"}])
    Traceback (most recent call last):
    ...
    TypeError: tools= counts the tools of a chat: give a list of messages, not a str
    """
    if tools is None:
        return None
    if not is_messages(text_or_messages):
        kind = type(text_or_messages).__name__
        raise TypeError(f"tools= counts the tools of a chat: give a list of messages, not a {kind}")
    checked = check_options({"tools": tools}).get("tools")
    assert isinstance(checked, list)
    return checked


def count_body(model: str, messages: object, tools: list[dict[str, Any]] | None = None) -> bytes:
    """A chat request made only for the server to count its prompt.

    A chat with images is counted by the server that encodes them: each image
    takes the tokens its vision projector makes of it, which no tokenizer
    call gives. The server reports the count in the usage of a one-token
    reply (its prompt stays cached for the chat that follows).
    """
    checked = check_history(messages)
    if not checked:
        raise ValueError("messages must hold at least one message")
    payload: dict[str, object] = {"model": model, "messages": checked}
    if tools is not None:
        payload["tools"] = tools
    payload.update(max_tokens=1, cache_prompt=True)
    return _dump(payload)


def parse_prompt_tokens(body: bytes | str) -> int:
    """``usage.prompt_tokens`` of a chat completion answer.

    >>> parse_prompt_tokens(b'{"usage":{"prompt_tokens":24,"completion_tokens":1}}')
    24
    """
    usage = json_object(body).get("usage")
    count = usage.get("prompt_tokens") if isinstance(usage, Mapping) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise APIError(f"the server reported no prompt_tokens: {preview(body)}")
    return count


def parse_detokenized(body: bytes | str) -> str:
    content = json_object(body).get("content")
    if not isinstance(content, str):
        raise APIError(f"unexpected /detokenize answer: {preview(body)}")
    return content


def template_body(messages: object, tools: list[dict[str, Any]] | None = None) -> bytes:
    """The body of ``POST /apply-template`` for a checked message list, and
    the tools the template renders (llama-server reads it as a chat request).

    >>> template_body([{"role": "user", "content": "Hi"}], [{"type": "function"}])
    b'{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function"}]}'
    """
    checked = check_history(messages)
    if not checked:
        raise ValueError("messages must hold at least one message")
    payload: dict[str, object] = {"messages": checked}
    if tools is not None:
        payload["tools"] = tools
    return _dump(payload)


def parse_prompt(body: bytes | str) -> str:
    prompt = json_object(body).get("prompt")
    if not isinstance(prompt, str):
        raise APIError(f"unexpected /apply-template answer: {preview(body)}")
    return prompt


def is_messages(value: object) -> bool:
    """Whether ``count_tokens`` was given a chat (a list of messages), not a text."""
    return (
        not isinstance(value, (str, bytes, Mapping))
        and isinstance(value, Sequence)
        and all(isinstance(item, Mapping) for item in value)
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _dump(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
