"""The drivers of ``act()`` and ``parse()``: their pure steps, performed.

``agents/agent.py`` and ``agents/parsing.py`` decide; these loops only ask
the model, run tools and tell ``on_message``, through ``io``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TypeVar

from ...agents.agent import ActResult, ActStep, Ask, Notify
from ...agents.parsing import ParseAsk
from ...types import Completion
from . import io

T = TypeVar("T")


async def drive_act(
    steps: Generator[ActStep, object, ActResult], complete: io.Complete
) -> ActResult:
    """Run the act loop: ask, run the tools each reply calls, tell on_message."""
    answer: object = None
    try:
        while True:
            step = steps.send(answer)
            if isinstance(step, Ask):
                answer = await complete(step.messages, step.options)
            elif isinstance(step, Notify):
                await io.call_back(step.callback, step.message)
                answer = None
            else:
                answer = await io.run_tools(step.calls)
    except StopIteration as done:
        result: ActResult = done.value
        return result


async def drive_parse(steps: Generator[ParseAsk, Completion, T], complete: io.Complete) -> T:
    """Run the parse steps: ask until a reply validates."""
    ask = next(steps)
    while True:
        try:
            ask = steps.send(await complete(ask.messages, ask.options))
        except StopIteration as done:
            result: T = done.value
            return result
