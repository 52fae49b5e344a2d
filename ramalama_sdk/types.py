"""The typed shapes that users of ramalama_sdk see."""

from __future__ import annotations

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
