"""Agents as programs write them, at the edges the first tries missed.

A tool without parameters (``get_time()``). The tiny model
calls a tool when told to (``tool_choice="required"``: a grammar built from
the tools' schemas), so every call below is one the real server made.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ramalama_sdk import (
    AsyncRamalamaModel,
    GenerationOptions,
    RamalamaModel,
)
from ramalama_sdk.testing import tiny_model

OPTIONS: GenerationOptions = {"max_tokens": 300, "seed": 7}


@pytest.fixture(scope="module")
def tools_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return tiny_model(tmp_path_factory.mktemp("agent-edges"), tools=True).as_uri()


@pytest.fixture(scope="module")
def model(tools_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=tools_uri) as served:
        yield served


@pytest.fixture
async def amodel(tools_uri: str) -> AsyncIterator[AsyncRamalamaModel]:
    async with AsyncRamalamaModel(model=tools_uri) as served:
        yield served


class Clock:
    """A tool that takes nothing, as ``get_time()`` does in every agent tutorial."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def get_time(self) -> str:
        """The current time."""
        self.calls.append(())
        return "12:00"


def test_agent_with_a_tool_that_takes_no_arguments(model: RamalamaModel) -> None:
    clock = Clock()
    result = model.act("What time is it?", [clock.get_time], tool_choice="required", **OPTIONS)
    assert clock.calls, [run.error for run in result.tool_runs]
    assert all(run.error is None and run.content == "12:00" for run in result.tool_runs)


async def test_async_agent_with_a_tool_that_takes_no_arguments(
    amodel: AsyncRamalamaModel,
) -> None:
    clock = Clock()

    async def get_date() -> str:
        """Today's date."""
        return "2026-12-06"

    result = await amodel.act(
        "Time and date?", [clock.get_time, get_date], tool_choice="required", **OPTIONS
    )
    assert result.tool_runs
    assert all(run.error is None for run in result.tool_runs), result.tool_runs
    assert {run.content for run in result.tool_runs} <= {"12:00", "2026-12-06"}
