"""The typed shapes that users of ramalama_sdk see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

Role = Literal["system", "user", "assistant", "developer"]
ROLES: frozenset[str] = frozenset(("system", "user", "assistant", "developer"))


class ChatMessage(TypedDict):
    """One message of a conversation, in the OpenAI chat shape.

    >>> ChatMessage(role="system", content="Answer in one word.")
    {'role': 'system', 'content': 'Answer in one word.'}
    """

    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    """Token counts of one reply, as the server reports them."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Completion:
    """The whole result of one chat request.

    ``timings`` holds the server's own figures (llama-server reports
    ``prompt_per_second``, ``predicted_per_second``, ``predicted_ms``, ...);
    it is empty for servers that report none.
    """

    message: ChatMessage
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def content(self) -> str:
        return self.message["content"]

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed as the server measured it, if it said."""
        return self.timings.get("predicted_per_second")
