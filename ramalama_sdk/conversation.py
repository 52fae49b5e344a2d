"""A conversation that keeps its own history.

    chat = model.conversation(system="Answer in one sentence.")
    chat.say("Who wrote Hamlet?")
    for delta in chat.stream("When?"):
        print(delta, end="")
    chat.history   # system, user, assistant, user, assistant

The sync and async flavours share everything but the call that waits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .images import user_message
from .protocol import check_message
from .types import ChatMessage, Completion

if TYPE_CHECKING:
    from .async_model import AsyncRamalamaModel
    from .streams import AsyncChatStream, ChatStream, DoneHook
    from .sync_model import RamalamaModel


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
        return head + [ChatMessage(role=m["role"], content=m["content"]) for m in self._turns]

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

    def _on_done(self, text: str, images: object = None) -> DoneHook:
        def record(completion: Completion) -> None:
            self._record(text, completion.message, images)

        return record


class Conversation(_History):
    """Made by ``RamalamaModel.conversation()``."""

    def __init__(self, model: RamalamaModel, system: str | None = None) -> None:
        super().__init__(system)
        self._model = model

    def say(self, text: str, **options: Any) -> ChatMessage:
        """Send ``text`` with the history so far; the exchange joins the history."""
        reply = self._model.chat(text, self.history, **options)
        self._record(text, reply, options.get("images"))
        return reply

    def stream(self, text: str, **options: Any) -> ChatStream:
        """Like ``say()``, streamed; the exchange joins the history once complete."""
        body = self._model._chat_body(text, self.history, options, stream=True)
        return self._model._stream(body, self._on_done(text, options.get("images")))


class AsyncConversation(_History):
    """Made by ``AsyncRamalamaModel.conversation()``."""

    def __init__(self, model: AsyncRamalamaModel, system: str | None = None) -> None:
        super().__init__(system)
        self._model = model

    async def say(self, text: str, **options: Any) -> ChatMessage:
        """Send ``text`` with the history so far; the exchange joins the history."""
        reply = await self._model.chat(text, self.history, **options)
        self._record(text, reply, options.get("images"))
        return reply

    def stream(self, text: str, **options: Any) -> AsyncChatStream:
        """Like ``say()``, streamed; the exchange joins the history once complete."""
        body = self._model._chat_body(text, self.history, options, stream=True)
        return self._model._stream(body, self._on_done(text, options.get("images")))
