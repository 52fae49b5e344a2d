"""The per-request options beyond the basic ones: typed, and checked (pure).

``ChatOptions`` lists every keyword that ``chat()``, ``complete()`` and
``stream()`` take (``ActOptions`` those of ``act()``, ``GenerationOptions``
those of ``parse()`` and ``complete_text()``), so that an editor completes
them and a type checker catches a misspelt one
(``**options: Unpack[ChatOptions]``). The checks here turn a bad value into a
TypeError or ValueError before anything is sent; ``extra_body`` is the one
unchecked escape hatch, merged into the request last.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from .http.images import ImageInput
from .tools.definitions import ToolLike, tools_from

if sys.version_info >= (3, 11):
    from typing import TypedDict
else:
    from typing_extensions import TypedDict

TOOL_CHOICES = ("auto", "required", "none")
ToolChoice = Literal["auto", "required", "none"] | str
ReasoningEffort = Literal["none", "minimal", "low", "medium", "high"] | str


class GenerationOptions(TypedDict, total=False):
    """The options of every request; None (or leaving one out) keeps the server's own.

    Sampling: ``temperature``, ``top_p``, ``top_k``, ``min_p``, ``seed``,
    ``repeat_penalty``, ``presence_penalty``, ``frequency_penalty``,
    ``logit_bias`` ({token id: bias}). Length: ``max_tokens``, ``stop``.
    Thinking: ``reasoning_effort``, ``thinking_budget`` (tokens of reasoning,
    then the answer is forced), ``chat_template_kwargs``. Scores:
    ``logprobs``, ``top_logprobs``. Server: ``cache_prompt``. Anything else:
    ``extra_body``, merged into the request last and unchecked.
    """

    temperature: float | None
    max_tokens: int | None
    top_p: float | None
    seed: int | None
    stop: str | Sequence[str] | None
    top_k: int | None
    min_p: float | None
    repeat_penalty: float | None
    presence_penalty: float | None
    frequency_penalty: float | None
    logit_bias: Mapping[int, float] | Mapping[str, float] | None
    logprobs: bool | None
    top_logprobs: int | None
    reasoning_effort: ReasoningEffort | None
    thinking_budget: int | None
    chat_template_kwargs: Mapping[str, Any] | None
    cache_prompt: bool | None
    extra_body: Mapping[str, Any] | None


class ParseOptions(GenerationOptions, total=False):
    """The options of ``parse()``: those of every request, and ``images``."""

    images: Sequence[ImageInput] | None


class ActOptions(ParseOptions, total=False):
    """The options of ``act()``: those of ``parse()``, and how tools are called."""

    tool_choice: ToolChoice | None
    parallel_tool_calls: bool | None


class ChatOptions(ActOptions, total=False):
    """The options of ``chat()``, ``complete()`` and ``stream()``: all of them.

    ``tools`` (functions, pydantic classes or schema dicts),
    and ``response_format`` (a JSON schema dict or a pydantic class) come
    on top of ``ActOptions``, whose ``images`` (paths, bytes, PIL images or
    URLs) are joined to the user's message.
    """

    tools: Sequence[ToolLike] | None
    response_format: Mapping[str, Any] | type[Any] | None


def _number(name: str, value: object, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not low <= value <= high:
        limit = f"between {low:g} and {high:g}" if high < math.inf else f">= {low:g}"
        raise ValueError(f"{name} must be {limit}, not {value}")
    return value


def _integer(name: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name} must be {limit}, not {value}")
    return value


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _logit_bias(name: str, value: object) -> dict[str, float]:
    """{token id: bias}; llama-server also takes a token's text as the key."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a dict of token id -> bias")
    checked: dict[str, float] = {}
    for token, bias in value.items():
        if isinstance(token, bool) or not isinstance(token, (int, str)):
            raise TypeError(f"{name} keys must be token ids (int) or token texts (str)")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)):
            raise TypeError(f"{name}[{token!r}] must be a number, not {type(bias).__name__}")
        if not -100 <= bias <= 100:
            raise ValueError(f"{name}[{token!r}] must be between -100 and 100, not {bias}")
        checked[str(token)] = bias
    return checked


def _json_object(name: str, value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise TypeError(f"{name} must be a dict with str keys")
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold JSON values only: {exc}") from None
    return dict(value)


# How a reply is received (streamed or in one piece) is the SDK's choice, made
# from max_tokens (see models/core.py): extra_body must not undo it.
SDK_KEYS = ("stream", "stream_options")


def _extra_body(name: str, value: object) -> dict[str, Any]:
    """``extra_body``: any JSON object but the keys the SDK sets itself.

    >>> _extra_body("extra_body", {"stream": False})
    Traceback (most recent call last):
    ...
    ValueError: extra_body cannot set 'stream': the SDK chooses how a reply comes (stream() streams)
    """
    checked = _json_object(name, value)
    for key in SDK_KEYS:
        if key in checked:
            raise ValueError(
                f"{name} cannot set {key!r}: the SDK chooses how a reply comes (stream() streams)"
            )
    return checked


def _word(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{name} must be a non-empty str, e.g. 'low', 'medium', 'high'")
    return value


def check_tools(name: str, value: object) -> list[dict[str, Any]]:
    """The ``tools`` option as the server takes it."""
    tools = tools_from(value)
    if not tools:
        raise ValueError(f"{name} must not be empty (leave it out for no tools)")
    return [tool.schema() for tool in tools]


def check_tool_choice(name: str, value: object) -> str:
    """``"auto"``, ``"required"``, ``"none"`` or the name of one tool."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be 'auto', 'required', 'none' or a tool's name")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def apply_tool_choice(options: dict[str, object]) -> None:
    """Resolve ``tool_choice=<a tool's name>`` in checked options, in place.

    llama-server takes only "auto", "none" and "required"; choosing one tool
    is the same as offering only that tool and requiring a call, which every
    server understands.
    """
    choice = options.get("tool_choice")
    tools = options.get("tools")
    if choice is None:
        return
    if tools is None:
        raise ValueError("tool_choice needs tools")
    if choice in TOOL_CHOICES:
        return
    assert isinstance(tools, list)
    chosen = [t for t in tools if t["function"]["name"] == choice]
    if not chosen:
        names = ", ".join(t["function"]["name"] for t in tools)
        raise ValueError(
            f"tool_choice {choice!r} is neither 'auto', 'required', 'none' nor a tool "
            f"(tools: {names})"
        )
    options["tools"] = chosen
    options["tool_choice"] = "required"


CHECKS: dict[str, Callable[[str, object], object]] = {
    "tools": check_tools,
    "tool_choice": check_tool_choice,
    "parallel_tool_calls": _flag,
    "top_k": lambda n, v: _integer(n, v, 0),
    "min_p": lambda n, v: _number(n, v, 0.0, 1.0),
    "repeat_penalty": lambda n, v: _number(n, v, 0.0),
    "presence_penalty": lambda n, v: _number(n, v, -2.0, 2.0),
    "frequency_penalty": lambda n, v: _number(n, v, -2.0, 2.0),
    "logit_bias": _logit_bias,
    "logprobs": _flag,
    "top_logprobs": lambda n, v: _integer(n, v, 0, 20),
    "reasoning_effort": _word,
    # llama-server reads it as a 32-bit integer; 0 ends the thinking at once.
    "thinking_budget": lambda n, v: _integer(n, v, 0, 2**31 - 1),
    "chat_template_kwargs": _json_object,
    "cache_prompt": _flag,
    "extra_body": _extra_body,
}


def finish(checked: dict[str, object]) -> dict[str, object]:
    """Rules between options, applied once each option is checked.

    >>> finish({"top_logprobs": 3})
    Traceback (most recent call last):
    ...
    ValueError: top_logprobs needs logprobs=True
    """
    if "top_logprobs" in checked and checked.get("logprobs") is not True:
        raise ValueError("top_logprobs needs logprobs=True")
    if "parallel_tool_calls" in checked and "tools" not in checked:
        raise ValueError("parallel_tool_calls needs tools")
    if "thinking_budget" in checked:  # llama-server's name for it
        checked["thinking_budget_tokens"] = checked.pop("thinking_budget")
    apply_tool_choice(checked)
    return checked


def merge_extra_body(payload: dict[str, object]) -> None:
    """Merge ``extra_body`` into the request, last: its keys win, unchecked."""
    extra = payload.pop("extra_body", None)
    if isinstance(extra, Mapping):
        payload.update(extra)
