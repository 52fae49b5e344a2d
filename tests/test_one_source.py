"""What a program gets alike from the sync and the async classes, on the real stack.

Each capability is written once (``ramalama_sdk/models/_async/``) and its
blocking twin generated; these are the programs that broke where the two
used to be written apart: a tool that hangs, a coroutine tool in a
notebook, an async logger, images given to act() or parse(), extra_body
that fights how a reply is received, a conversation about a file that is
gone by the time the answer comes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pydantic
import pytest
from test_images import png

from conftest import in_flight, in_thread, llama_server_of, wait_until
from ramalama_sdk import AsyncRamalamaModel, ChatMessage, GenerationOptions, RamalamaModel
from ramalama_sdk.testing import tiny_projector

# Short replies: a call's arguments are short, the final answer need not be long.
OPTIONS: GenerationOptions = {"max_tokens": 300, "seed": 7}
# The random-weights model never ends a call it was not forced into, and a
# call cut off at max_tokens is not run: the stop string ends every reply at
# its first call, so act() answers in one round, whose prompt is compared.
ACT: GenerationOptions = {"max_tokens": 300, "seed": 7, "stop": ["<tool_call>"]}
IMAGE_TOKENS = 4  # the tiny projector: see test_images.py


class Seen(pydantic.BaseModel):
    name: str
    population: int


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_projector(tmp_path_factory.mktemp("vision"))


@pytest.fixture(scope="module")
def vision(tools_uri: str, projector: Path) -> Iterator[RamalamaModel]:
    """The tiny model with tools and eyes: its template takes tools, and the
    projector turns each image into IMAGE_TOKENS tokens."""
    with RamalamaModel(
        model=tools_uri, temp=0, max_tokens=4, runtime_args=["--mmproj", str(projector)]
    ) as served:
        yield served


# -- tools ---------------------------------------------------------------------


async def test_a_hung_tool_does_not_hold_up_stop(tools_uri: str) -> None:
    """A web service whose tool hangs (a dead backend) gives up on the request
    and shuts down: stop() must not queue behind the tool's thread, even
    where the program keeps the loop's default executor small."""
    loop = asyncio.get_running_loop()
    loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=1))
    started, release = threading.Event(), threading.Event()

    def lookup(key: str) -> str:
        """Look a key up in a backend that no longer answers."""
        started.set()
        release.wait(timeout=300)
        return key

    model = AsyncRamalamaModel(model=tools_uri)
    try:
        await model.serve()
        act = asyncio.ensure_future(
            model.act("Look up x", [lookup], tool_choice="required", **OPTIONS)
        )
        for _ in range(12_000):  # not in a thread: the program's one worker is the tool's
            if started.is_set():
                break
            await asyncio.sleep(0.01)
        assert started.is_set(), "the tool never ran"
        act.cancel()
        with pytest.raises(asyncio.CancelledError):
            await act
        stopping = asyncio.ensure_future(model.stop())
        done, _ = await asyncio.wait({stopping}, timeout=60)
        assert stopping in done, "stop() waited for the hung tool"
        assert not model.is_running
    finally:
        release.set()
        await model.stop()


async def test_a_coroutine_tool_in_a_notebook_cell(tools_uri: str) -> None:
    """Jupyter runs cells in a running event loop; the blocking act() there
    must still run an ``async def`` tool."""
    ran_in: list[int] = []

    async def add(a: int, b: int) -> int:
        """Add two integers."""
        ran_in.append(threading.get_ident())
        await asyncio.sleep(0)
        return a + b

    asyncio.get_running_loop()  # the loop this blocking call runs under
    with RamalamaModel(model=tools_uri) as model:
        result = model.act("Add 2 and 3", [add], tool_choice="required", **OPTIONS)
    assert result.tool_runs, "the model called no tool"
    run = result.tool_runs[0]
    assert run.error is None, run.error
    assert run.result == run.call.arguments["a"] + run.call.arguments["b"]
    assert ran_in and ran_in[0] != threading.get_ident()  # in a loop of its own


async def test_an_async_message_logger_is_awaited(tools_uri: str) -> None:
    """An asyncio program logs each message of act() with an ``async def``
    (a websocket send, a database write): each must run, in order."""
    logged: list[str] = []

    async def log(message: ChatMessage) -> None:
        await asyncio.sleep(0)
        logged.append(message["role"])

    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    async with AsyncRamalamaModel(model=tools_uri) as model:
        result = await model.act(
            "Add 2 and 3", [add], tool_choice="required", on_message=log, **OPTIONS
        )
    assert logged == [m["role"] for m in result.messages[1:]]  # all but the prompt
    assert logged[:2] == ["assistant", "tool"]


# -- images ----------------------------------------------------------------------


def test_act_and_parse_take_images_like_chat(vision: RamalamaModel, tmp_path: Path) -> None:
    """A photo app asks act() and parse() about a picture, as it asks chat()."""
    path = tmp_path / "grey.png"
    path.write_bytes(png())

    # A choice the grammar ends: a free string from random weights runs on to
    # max_tokens, and a call cut off there is not run.
    def describe(place: Literal["Paris", "Rome"]) -> str:
        """Describe a place."""
        return place

    plain = vision.act("Where is it?", [describe], tool_choice="required", **ACT)
    seen = vision.act("Where is it?", [describe], images=[path], tool_choice="required", **ACT)
    first = seen.messages[0]
    assert isinstance(first["content"], list) and first["content"][1]["type"] == "image_url"
    prompt = plain.completion.usage.prompt_tokens
    assert seen.completion.usage.prompt_tokens == prompt + IMAGE_TOKENS  # the server saw it
    city = vision.parse("Name the city.", Seen, images=[path], max_tokens=200, seed=1)
    assert isinstance(city, Seen)


async def test_async_act_and_parse_take_images(tools_uri: str, projector: Path) -> None:
    # A choice the grammar ends: a free string from random weights runs on to
    # max_tokens, and a call cut off there is not run.
    def describe(place: Literal["Paris", "Rome"]) -> str:
        """Describe a place."""
        return place

    async with AsyncRamalamaModel(
        model=tools_uri, temp=0, runtime_args=["--mmproj", str(projector)]
    ) as model:
        plain = await model.act("Where?", [describe], tool_choice="required", **ACT)
        seen = await model.act("Where?", [describe], images=[png()], tool_choice="required", **ACT)
        prompt = plain.completion.usage.prompt_tokens
        assert seen.completion.usage.prompt_tokens == prompt + IMAGE_TOKENS
        city = await model.parse("Name the city.", Seen, images=[png()], max_tokens=200, seed=1)
        assert isinstance(city, Seen)


def test_a_conversation_keeps_the_image_the_model_saw(
    vision: RamalamaModel, tmp_path: Path
) -> None:
    """A chat app about an uploaded file that it deletes once sent: the
    answer must not be lost, and the history holds the image as sent."""
    path = tmp_path / "upload.png"
    path.write_bytes(png())
    chat = vision.conversation()
    llama = llama_server_of(vision)
    llama.suspend()  # the answer cannot come before the file is gone
    try:
        worker, outcome = in_thread(lambda: chat.say("What is it?", images=[path], max_tokens=4))
        assert wait_until(lambda: in_flight(vision), timeout=60), "never sent"
        path.unlink()
    finally:
        llama.resume()
    worker.join(timeout=120)
    assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome
    first = chat.history[0]
    assert isinstance(first["content"], list)
    sent: Any = first["content"][1]
    assert sent["image_url"]["url"].startswith("data:image/png;base64,")


# -- extra_body ------------------------------------------------------------------


def test_extra_body_cannot_turn_a_reply_into_a_broken_stream(model_uri: str) -> None:
    """A program passes its own request fields; ``stream`` is the SDK's."""
    with RamalamaModel(model=model_uri, max_tokens=4) as model:
        bodies: list[dict[str, Any]] = [{"stream": False}, {"stream": True}, {"stream_options": {}}]
        for body in bodies:
            with pytest.raises(ValueError, match="extra_body cannot set"):
                model.chat("Hi", extra_body=body)
            with pytest.raises(ValueError, match="extra_body cannot set"):
                model.complete_text("Hi", extra_body=body)
        reply = model.chat("Hi", extra_body={"max_tokens": 2, "n_probs": 0})
        assert reply["role"] == "assistant"
