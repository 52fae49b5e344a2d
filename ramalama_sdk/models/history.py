"""What the sync and async conversations share: the history; no I/O."""

from __future__ import annotations

import copy

from ..agents.agent import ActResult
from ..http.protocol import check_message
from ..types import ChatMessage, Completion
from . import fitting
from .stream_core import DoneHook


class History:
    def __init__(self, system: str | None, fit: object = None) -> None:
        if system is not None:
            check_message(system)
        self._fit = fitting.check_fit(fit)
        self._system = system
        self._turns: list[ChatMessage] = []
        self._summary: ChatMessage | None = None
        self._dropped: list[ChatMessage] = []
        # Tokens each exchange takes, by id of its first turn (counted once, when a fit needs it).
        self._costs: dict[int, int] = {}

    @property
    def history(self) -> list[ChatMessage]:
        """A copy of the conversation so far: the system prompt first, then
        the summary of the dropped turns (``fit="summarize"``), then the turns."""
        return self._head() + copy.deepcopy(self._turns)

    @property
    def dropped(self) -> list[ChatMessage]:
        """The turns left out to keep within the context (``fit=``), oldest first."""
        return copy.deepcopy(self._dropped)

    @property
    def summary(self) -> ChatMessage | None:
        """The message that stands for the dropped turns (``fit="summarize"``),
        marked ``name="summary"``; None until turns were dropped."""
        return copy.deepcopy(self._summary)

    def _head(self) -> list[ChatMessage]:
        head = [ChatMessage(role="system", content=self._system)] if self._system else []
        return head + ([copy.deepcopy(self._summary)] if self._summary else [])

    def _drop(self, count: int) -> list[ChatMessage]:
        """Leave out the ``count`` oldest turns; they are kept in ``dropped``."""
        gone, self._turns = self._turns[:count], self._turns[count:]
        for turn in gone:
            self._costs.pop(id(turn), None)
        self._dropped += copy.deepcopy(gone)
        return gone

    def reset(self, system: str | None = None) -> None:
        """Forget every turn; ``system`` replaces the system prompt when given."""
        if system is not None:
            check_message(system)
            self._system = system
        self._turns = []
        self._summary = None
        self._dropped = []
        self._costs = {}

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
