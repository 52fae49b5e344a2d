"""A conversation that keeps its own history.

chat = model.conversation(system="Answer in one sentence.")
await chat.say("Who wrote Hamlet?")
async for delta in chat.stream("When?"):
    print(delta, end="")
chat.history   # system, user, assistant, user, assistant

With ``fit="drop"`` (or ``"summarize"``) the oldest exchanges are left out
(or summarised) before a message that would not fit the context is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ...agents import agent, mcp_tools
from ...errors import UnsupportedError
from ...http import protocol
from ...types import ChatMessage
from .. import fitting
from ..history import History

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ...agents.agent import ActResult, MessageCallback
    from ...agents.mcp_tools import ToolSource
    from ...chat_options import ActOptions, ChatOptions
    from ...http.cancelling import CancelToken
    from .model import AsyncRamalamaModel
    from .streams import AsyncChatStream


class AsyncConversation(History):
    """Made by ``conversation()`` of a model (or of a router, for one of its models)."""

    def __init__(
        self,
        model: AsyncRamalamaModel,
        system: str | None = None,
        target: str | None = None,
        *,
        fit: fitting.FitPolicy | None = None,
    ) -> None:
        super().__init__(system, fit)
        self._model = model
        self._target = target
        self._context_size: int | None = None

    async def say(
        self, text: str, *, cancel: CancelToken | None = None, **options: Unpack[ChatOptions]
    ) -> ChatMessage:
        """Send ``text`` with the history so far; the exchange joins the history.

        ``cancel``: a CancelToken that stops this call (the requests that fit
        the history to the context included); a stopped exchange is not kept.
        """
        user, rest = self._model._user_turn(text, options)
        with self._model._in_flight.call(cancel):
            await self._keep_within(user, rest)
            reply = await self._model._chat([*self.history, user], rest, self._target)
        self._record(user, reply)
        return reply

    def stream(
        self, text: str, *, cancel: CancelToken | None = None, **options: Unpack[ChatOptions]
    ) -> AsyncChatStream:
        """Like ``say()``, streamed; the exchange joins the history once complete."""
        user, rest = self._model._user_turn(text, options)
        messages = [*self.history, user]
        body = self._model._complete_body(messages, rest, stream=True, target=self._target)
        return self._model._stream(body, self._on_done(user), cancel)

    async def act(
        self,
        text: str,
        tools: Sequence[ToolSource],
        *,
        max_rounds: int = 10,
        on_message: MessageCallback | None = None,
        raise_tool_errors: bool = False,
        cancel: CancelToken | None = None,
        **options: Unpack[ActOptions],
    ) -> ActResult:
        """``act()`` with the history so far; the whole exchange, tool calls and
        results included, joins the history once the model has answered."""
        with self._model._in_flight.call(cancel):
            kept, result = await self._act_within(
                text, tools, max_rounds, on_message, raise_tool_errors, options
            )
        self._record_act(kept, result)
        return result

    async def _act_within(
        self,
        text: str,
        tools: Sequence[ToolSource],
        max_rounds: int,
        on_message: MessageCallback | None,
        raise_tool_errors: bool,
        options: Mapping[str, object],
    ) -> tuple[int, ActResult]:
        """act() once the history fits the context with the tools' schemas;
        the length of the history it was given, and its result. MCP servers
        are opened here, not in act(), so that their tools are counted."""
        async with mcp_tools.opened_async(tools) as opened:
            toolset = agent.act_tools(opened)
            offered = {**options, "tools": toolset}
            await self._keep_within(ChatMessage(role="user", content=text), offered)
            history = self.history
            result = await self._model._act(
                text,
                toolset,
                history,
                max_rounds,
                on_message,
                raise_tool_errors,
                options,
                self._target,
            )
        return len(history), result

    async def _keep_within(self, user: ChatMessage, options: Mapping[str, object]) -> None:
        """Drop (or summarise) the oldest exchanges until the history and
        ``user`` fit the context with room for the reply, counted by the
        server's tokenizer, with the tools ``options`` offer. A cut goes down
        to a low-water mark, so that the next turns need none. The whole
        prompt is counted again after each cut: the per-turn counts only
        choose where to cut (the tools cost the same whatever is cut)."""
        if self._fit is None:
            return
        tools = fitting.offered_tools(options)
        if self._context_size is None:
            self._context_size = await self._served_context()
        limit = fitting.budget(self._context_size, protocol.reply_limit(options), self._fit)
        while self._turns:
            total = await self._model.count_tokens([*self.history, user], tools=tools)
            if total <= limit:
                return
            costs = await self._turn_costs()
            roles = [turn["role"] for turn in self._turns]
            count = fitting.plan_drop(roles, costs, total, limit, fitting.low_water(limit))
            if count == 0:  # not reached while total > limit; never loop without a cut
                return
            gone = self._drop(count)
            if self._fit == "summarize":
                await self._summarize(gone)

    async def _served_context(self) -> int:
        size = (await self._model.info()).context_size
        if size is None:
            raise UnsupportedError("fit= needs the context size, and the server does not tell it")
        return size

    async def _turn_costs(self) -> list[int]:
        """The tokens each exchange adds after the system prompt, through the
        chat template, set on its first turn (0 on the others); each exchange
        is counted once."""
        head = self._head()[:1] if self._system else []
        costs = [0] * len(self._turns)
        base: int | None = None
        for start, end in fitting.spans([turn["role"] for turn in self._turns]):
            key = id(self._turns[start])
            if key not in self._costs:
                if base is None:
                    base = await self._model.count_tokens(head) if head else 0
                counted = await self._model.count_tokens([*head, *self._turns[start:end]])
                self._costs[key] = counted - base
            costs[start] = self._costs[key]
        return costs

    async def _summarize(self, gone: list[ChatMessage]) -> None:
        """One message, written by the model, for the summary so far and ``gone``."""
        request = fitting.summary_request(fitting.summary_text(self._summary), gone)
        options = {"max_tokens": fitting.SUMMARY_TOKENS, "temperature": 0}
        reply = await self._model._chat(request, options, self._target)
        self._summary = fitting.summary_message(reply["content"])
