"""What the sync and async conversations share: the history; no I/O."""

from __future__ import annotations

import copy

from ..agents.agent import ActResult
from ..http.protocol import check_message
from ..types import ChatMessage, Completion
from .stream_core import DoneHook


class History:
    def __init__(self, system: str | None) -> None:
        if system is not None:
            check_message(system)
        self._system = system
        self._turns: list[ChatMessage] = []

    @property
    def history(self) -> list[ChatMessage]:
        """A copy of the conversation so far, the system prompt first."""
        head = [ChatMessage(role="system", content=self._system)] if self._system else []
        return head + copy.deepcopy(self._turns)

    def reset(self, system: str | None = None) -> None:
        """Forget every turn; ``system`` replaces the system prompt when given."""
        if system is not None:
            check_message(system)
            self._system = system
        self._turns = []

    def _record(self, user: ChatMessage, reply: ChatMessage) -> None:
        # Only a finished exchange enters the history: a failed or broken-off
        # call leaves it as it was. Images stay with their question, as sent.
        self._turns += [user, reply]

    def _record_act(self, before: int, result: ActResult) -> None:
        # The user's message, the tool calls and results, the answer.
        self._turns += copy.deepcopy(result.messages[before:])

    def _on_done(self, user: ChatMessage) -> DoneHook:
        def record(completion: Completion) -> None:
            self._record(user, completion.message)

        return record
