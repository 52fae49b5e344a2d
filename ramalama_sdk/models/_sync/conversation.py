# Generated from ramalama_sdk/models/_async/conversation.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""A conversation that keeps its own history.

chat = model.conversation(system="Answer in one sentence.")
chat.say("Who wrote Hamlet?")
for delta in chat.stream("When?"):
    print(delta, end="")
chat.history   # system, user, assistant, user, assistant
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ...types import ChatMessage
from ..history import History

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ...agents.agent import ActResult, MessageCallback
    from ...agents.mcp_tools import ToolSource
    from ...chat_options import ActOptions, ChatOptions
    from .model import RamalamaModel
    from .streams import ChatStream


class Conversation(History):
    """Made by ``conversation()`` of a model (or of a router, for one of its models)."""

    def __init__(
        self, model: RamalamaModel, system: str | None = None, target: str | None = None
    ) -> None:
        super().__init__(system)
        self._model = model
        self._target = target

    def say(self, text: str, **options: Unpack[ChatOptions]) -> ChatMessage:
        """Send ``text`` with the history so far; the exchange joins the history."""
        user, rest = self._model._user_turn(text, options)
        reply = self._model._chat([*self.history, user], rest, self._target)
        self._record(user, reply)
        return reply

    def stream(self, text: str, **options: Unpack[ChatOptions]) -> ChatStream:
        """Like ``say()``, streamed; the exchange joins the history once complete."""
        user, rest = self._model._user_turn(text, options)
        messages = [*self.history, user]
        body = self._model._complete_body(messages, rest, stream=True, target=self._target)
        return self._model._stream(body, self._on_done(user))

    def act(
        self,
        text: str,
        tools: Sequence[ToolSource],
        *,
        max_rounds: int = 10,
        on_message: MessageCallback | None = None,
        raise_tool_errors: bool = False,
        **options: Unpack[ActOptions],
    ) -> ActResult:
        """``act()`` with the history so far; the whole exchange, tool calls and
        results included, joins the history once the model has answered."""
        history = self.history
        result = self._model._act(
            text,
            tools,
            history,
            max_rounds,
            on_message,
            raise_tool_errors,
            options,
            self._target,
        )
        self._record_act(len(history), result)
        return result
