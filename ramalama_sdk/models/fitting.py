"""Keeping a conversation within the context: what to drop, what to send
to summarise it. Pure decisions; the conversation counts and sends.

A conversation is cut only between exchanges: an exchange opens with a user
message and holds everything up to the next one (the reply, and an
assistant's tool calls with their results), so no tool result is left
without its call. The system prompt and the newest user message are not
among the turns this module sees, so they always stay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..http.protocol import check_options
from ..types import ChatMessage

FitPolicy = Literal["drop", "summarize"]
POLICIES: tuple[FitPolicy, ...] = ("drop", "summarize")
# Kept free for the reply when the call sets no max_tokens (at most a quarter
# of the context).
DEFAULT_RESERVE = 256
# The length of a summary, and what it takes in the context with its framing.
SUMMARY_TOKENS = 128
SUMMARY_ALLOWANCE = SUMMARY_TOKENS + 16
SUMMARY_NAME = "summary"
SUMMARY_PREFIX = "Summary of the earlier conversation: "
SUMMARY_INSTRUCTION = (
    "Summarise the conversation below in a few sentences. Keep names, facts, "
    "numbers and decisions; leave out greetings."
)


def check_fit(fit: object) -> FitPolicy | None:
    """The ``fit=`` of a conversation, checked.

    >>> check_fit("drop"), check_fit(None)
    ('drop', None)
    >>> check_fit("truncate")
    Traceback (most recent call last):
    ...
    ValueError: fit must be 'drop', 'summarize' or None, not 'truncate'
    """
    if fit is None:
        return None
    for policy in POLICIES:
        if fit == policy and isinstance(fit, str):
            return policy
    raise ValueError(f"fit must be 'drop', 'summarize' or None, not {fit!r}")


def budget(context_size: int, max_tokens: object, policy: FitPolicy) -> int:
    """The tokens the prompt may take: the context less the reply's
    ``max_tokens`` (else a reserve), less room for a summary if one is made.

    >>> budget(1024, 32, "drop")
    992
    >>> budget(1024, None, "drop"), budget(400, None, "drop")
    (768, 300)
    >>> budget(1024, 32, "summarize")
    848
    """
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        reserve = max_tokens
    else:
        reserve = min(DEFAULT_RESERVE, context_size // 4)
    room = SUMMARY_ALLOWANCE if policy == "summarize" else 0
    return context_size - reserve - room


def offered_tools(options: Mapping[str, object]) -> list[dict[str, Any]] | None:
    """The tools a request with ``options`` offers, as it sends them: the
    chat template writes them into the prompt, so they take part of the
    budget. A ``tool_choice`` naming one tool leaves only that one; None: no tools.

    >>> tools = [{"name": "add"}, {"name": "mul"}]
    >>> [t["function"]["name"] for t in offered_tools({"tools": tools, "tool_choice": "mul"})]
    ['mul']
    >>> offered_tools({"max_tokens": 8}) is None
    True
    """
    offered = {key: options.get(key) for key in ("tools", "tool_choice")}
    tools = check_options(offered).get("tools")
    return tools if isinstance(tools, list) else None


def cuts(roles: Sequence[str]) -> list[int]:
    """Where the turns may be cut: before each user message but the first,
    and after the last turn.

    >>> cuts(["user", "assistant", "tool", "assistant", "user", "assistant"])
    [4, 6]
    >>> cuts([])
    []
    """
    inner = [i for i, role in enumerate(roles) if role == "user" and i > 0]
    return [*inner, len(roles)] if roles else []


def spans(roles: Sequence[str]) -> list[tuple[int, int]]:
    """The exchanges, as (start, end) of the turns. An exchange is counted
    whole: a template may refuse a message alone (a tool result, or a call
    with no answer after it).

    >>> spans(["user", "assistant", "tool", "assistant", "user", "assistant"])
    [(0, 4), (4, 6)]
    """
    ends = cuts(roles)
    return list(zip([0, *ends[:-1]], ends, strict=True))


def plan_drop(
    roles: Sequence[str], costs: Sequence[int], total: int, limit: int, target: int | None = None
) -> int:
    """How many of the oldest turns to drop when a prompt of ``total``
    tokens exceeds ``limit``: the fewest whole exchanges whose ``costs``
    (tokens per turn) bring it down to ``target`` (default: ``limit``);
    every turn if none do; 0 if it fits.

    >>> plan_drop(["user", "assistant", "user", "assistant"], [10, 20, 10, 20], 100, 80)
    2
    >>> plan_drop(["user", "assistant", "user", "assistant"], [10, 20, 10, 20], 100, 100)
    0

    A lower ``target`` cuts deeper once a cut is needed, so that the next
    turns fit without one (and the server reuses the prompt it has cached):

    >>> plan_drop(["user", "assistant", "user", "assistant"], [10, 20, 10, 20], 100, 80, 60)
    4

    A tool call goes with its results (here the first exchange is dropped whole):

    >>> roles = ["user", "assistant", "tool", "assistant", "user", "assistant"]
    >>> plan_drop(roles, [5, 5, 50, 5, 5, 5], 100, 95)
    4

    Nothing is enough: every turn goes (the system prompt and the new
    message are not among them).

    >>> plan_drop(["user", "assistant"], [10, 10], 500, 100)
    2
    """
    if len(roles) != len(costs):
        raise ValueError("one cost per turn")
    if total <= limit:
        return 0
    goal = limit if target is None else min(target, limit)
    for cut in cuts(roles):
        if total - sum(costs[:cut]) <= goal:
            return cut
    return len(roles)


def low_water(limit: int) -> int:
    """Where a cut brings the prompt: three quarters of ``limit``, so that
    the turns after a cut need none for a while. Each cut changes the prompt
    after the system prompt, and the server then processes it all again.

    >>> low_water(800)
    600
    """
    return limit * 3 // 4


def transcript(summary: str | None, turns: Sequence[ChatMessage]) -> str:
    """The dropped turns as text for the model to summarise, after the
    summary they extend.

    >>> print(transcript("Ann is 30.", [
    ...     ChatMessage(role="user", content="I live in Oslo."),
    ...     ChatMessage(role="assistant", content="Nice city."),
    ... ]))
    Earlier: Ann is 30.
    User: I live in Oslo.
    Assistant: Nice city.
    """
    lines = [f"Earlier: {summary}"] if summary else []
    for turn in turns:
        content = turn.get("content") or ""
        if turn["role"] == "assistant" and turn.get("tool_calls"):
            names = ", ".join(call["function"]["name"] for call in turn["tool_calls"])
            content = f"{content} (called {names})".strip()
        if content:
            lines.append(f"{turn['role'].capitalize()}: {content}")
    return "\n".join(lines)


def summary_request(summary: str | None, turns: Sequence[ChatMessage]) -> list[ChatMessage]:
    """The messages that ask the model for a summary of ``turns``."""
    return [
        ChatMessage(role="system", content=SUMMARY_INSTRUCTION),
        ChatMessage(role="user", content=transcript(summary, turns)),
    ]


def summary_message(text: str) -> ChatMessage:
    """The message that stands for the dropped turns, marked ``name="summary"``.

    >>> message = summary_message(" Ann lives in Oslo. ")
    >>> message["role"], message["name"]
    ('system', 'summary')
    >>> message["content"]
    'Summary of the earlier conversation: Ann lives in Oslo.'
    """
    return ChatMessage(role="system", content=SUMMARY_PREFIX + text.strip(), name=SUMMARY_NAME)


def summary_text(message: ChatMessage | None) -> str | None:
    """The summary a summary message carries, without its prefix.

    >>> summary_text(summary_message("Ann lives in Oslo."))
    'Ann lives in Oslo.'
    """
    if message is None:
        return None
    return message["content"].removeprefix(SUMMARY_PREFIX)
