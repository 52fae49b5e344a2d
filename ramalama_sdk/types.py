"""The typed shapes that users of ramalama_sdk see."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

if sys.version_info >= (3, 11):
    from typing import NotRequired, TypedDict
else:  # NotRequired keys need the backport's TypedDict before 3.11
    from typing_extensions import NotRequired, TypedDict

Role = Literal["system", "user", "assistant", "developer", "tool"]
ROLES: frozenset[str] = frozenset(("system", "user", "assistant", "developer", "tool"))


class FunctionCallDict(TypedDict):
    """The ``function`` part of a tool call: its name and JSON-encoded arguments."""

    name: str
    arguments: str


class ToolCallDict(TypedDict):
    """One tool call of an assistant message, in the OpenAI chat shape."""

    id: str
    type: Literal["function"]
    function: FunctionCallDict


class ChatMessage(TypedDict):
    """One message of a conversation, in the OpenAI chat shape.

    >>> ChatMessage(role="system", content="Answer in one word.")
    {'role': 'system', 'content': 'Answer in one word.'}
    """

    role: Role
    content: str
    # An assistant's calls of tools (its content is then often empty).
    tool_calls: NotRequired[list[ToolCallDict]]
    # A thinking model's reasoning, kept apart from the answer.
    reasoning_content: NotRequired[str]
    # A "tool" message answers the call with this id.
    tool_call_id: NotRequired[str]
    name: NotRequired[str]


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply, as the server reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class ToolCall:
    """A call of a tool that the model asked for; ``arguments`` is parsed JSON."""

    id: str
    name: str
    arguments: dict[str, Any]

    def to_dict(self) -> ToolCallDict:
        """The call as an assistant message carries it (arguments as a JSON string)."""
        arguments = json.dumps(self.arguments, ensure_ascii=False)
        return ToolCallDict(
            id=self.id, type="function", function={"name": self.name, "arguments": arguments}
        )


@dataclass(frozen=True)
class TopLogprob:
    """One candidate token at a position, with its log-probability."""

    token: str
    logprob: float
    bytes: list[int] | None = None


@dataclass(frozen=True)
class TokenLogprob:
    """A generated token, its log-probability and the most likely candidates."""

    token: str
    logprob: float
    bytes: list[int] | None = None
    top_logprobs: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class Completion:
    """The whole result of one chat request.

    ``timings`` holds the server's own figures (llama-server reports
    ``prompt_per_second``, ``predicted_per_second``, ``predicted_ms``, ...,
    and with speculative decoding ``draft_n`` and ``draft_n_accepted``);
    it is empty for servers that report none.
    """

    message: ChatMessage
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    timings: Mapping[str, float] = field(default_factory=dict)
    # The tool calls of the reply, arguments parsed.
    tool_calls: tuple[ToolCall, ...] = ()
    # A thinking model's reasoning, None when it sent none.
    reasoning: str | None = None
    # One entry per generated token when ``logprobs=True`` was asked; else None.
    logprobs: tuple[TokenLogprob, ...] | None = None

    @property
    def content(self) -> str:
        return self.message["content"]

    @property
    def cut_off_while_thinking(self) -> bool:
        """True when ``max_tokens`` ran out before the model began its answer:
        the reply is empty, the reasoning is not. Give it more tokens, or turn
        thinking off (``chat_template_kwargs={"enable_thinking": False}``)."""
        return self.finish_reason == "length" and not self.content and bool(self.reasoning)

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed as the server measured it, if it said."""
        return self.timings.get("predicted_per_second")

    @property
    def draft_acceptance(self) -> float | None:
        """The share of drafted tokens the model accepted (0 to 1) when the
        server speculated (``speculation=`` or ``draft_model=``); None when
        it drafted nothing for this reply.

        >>> Completion(ChatMessage(role="assistant", content="x"),
        ...            timings={"draft_n": 40.0, "draft_n_accepted": 30.0}).draft_acceptance
        0.75
        >>> Completion(ChatMessage(role="assistant", content="x")).draft_acceptance is None
        True
        """
        drafted = self.timings.get("draft_n")
        if not drafted:
            return None
        return self.timings.get("draft_n_accepted", 0.0) / drafted
