"""A conversation that keeps its own history.

    chat = model.conversation(system="Answer in one sentence.")
    chat.say("Who wrote Hamlet?")
    for delta in chat.stream("When?"):
        print(delta, end="")
    chat.history   # system, user, assistant, user, assistant

The sync and async flavours share everything but the call that waits.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..http.images import user_message
from ..http.protocol import check_message
from ..types import ChatMessage, Completion

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..agents.agent import ActResult, MessageCallback
    from ..agents.tools import ToolLike
    from ..chat_options import ActOptions, ChatOptions
    from ._async.model import AsyncRamalamaModel
    from ._sync.model import RamalamaModel
    from .streams import AsyncChatStream, ChatStream, DoneHook


class _History:
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

    def _record(self, text: str, reply: ChatMessage, images: object = None) -> None:
        # Only a finished exchange enters the history: a failed or broken-off
        # call leaves it as it was. Images stay with their question.
        user = ChatMessage(role="user", content=text)
        if images is not None:
            user = user_message(text, images)
        self._turns += [user, reply]

    def _record_act(self, before: int, result: ActResult) -> None:
        # The user's message, the tool calls and results, the answer.
        self._turns += copy.deepcopy(result.messages[before:])

    def _on_done(self, text: str, images: object = None) -> DoneHook:
        def record(completion: Completion) -> None:
            self._record(text, completion.message, images)

        return record


class Conversation(_History):
    """Made by ``RamalamaModel.conversation()``."""

    def __init__(self, model: RamalamaModel, system: str | None = None) -> None:
        super().__init__(system)
        self._model = model

    def say(self, text: str, **options: Unpack[ChatOptions]) -> ChatMessage:
        """Send ``text`` with the history so far; the exchange joins the history."""
        reply = self._model.chat(text, self.history, **options)
        self._record(text, reply, options.get("images"))
        return reply

    def stream(self, text: str, **options: Unpack[ChatOptions]) -> ChatStream:
        """Like ``say()``, streamed; the exchange joins the history once complete."""
        body = self._model._chat_body(text, self.history, options, stream=True)
        return self._model._stream(body, self._on_done(text, options.get("images")))

    def act(
        self,
        text: str,
        tools: Sequence[ToolLike],
        *,
        max_rounds: int = 10,
        on_message: MessageCallback | None = None,
        raise_tool_errors: bool = False,
        **options: Unpack[ActOptions],
    ) -> ActResult:
        """``act()`` with the history so far; the whole exchange, tool calls and
        results included, joins the history once the model has answered."""
        history = self.history
        result = self._model.act(
            text,
            tools,
            history=history,
            max_rounds=max_rounds,
            on_message=on_message,
            raise_tool_errors=raise_tool_errors,
            **options,
        )
        self._record_act(len(history), result)
        return result


class AsyncConversation(_History):
    """Made by ``AsyncRamalamaModel.conversation()``."""

    def __init__(self, model: AsyncRamalamaModel, system: str | None = None) -> None:
        super().__init__(system)
        self._model = model

    async def say(self, text: str, **options: Unpack[ChatOptions]) -> ChatMessage:
        """Send ``text`` with the history so far; the exchange joins the history."""
        reply = await self._model.chat(text, self.history, **options)
        self._record(text, reply, options.get("images"))
        return reply

    def stream(self, text: str, **options: Unpack[ChatOptions]) -> AsyncChatStream:
        """Like ``say()``, streamed; the exchange joins the history once complete."""
        body = self._model._chat_body(text, self.history, options, stream=True)
        return self._model._stream(body, self._on_done(text, options.get("images")))

    async def act(
        self,
        text: str,
        tools: Sequence[ToolLike],
        *,
        max_rounds: int = 10,
        on_message: MessageCallback | None = None,
        raise_tool_errors: bool = False,
        **options: Unpack[ActOptions],
    ) -> ActResult:
        """``act()`` with the history so far; the exchange joins the history."""
        history = self.history
        result = await self._model.act(
            text,
            tools,
            history=history,
            max_rounds=max_rounds,
            on_message=on_message,
            raise_tool_errors=raise_tool_errors,
            **options,
        )
        self._record_act(len(history), result)
        return result
