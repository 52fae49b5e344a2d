"""Router mode for real: two tiny models behind one llama-server in podman."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pydantic
import pytest

from conftest import port_is_listening, run_python, server_processes
from podman_bed import Bed
from ramalama_sdk import (
    ActOptions,
    AsyncRamalamaRouter,
    ContainerEngineError,
    ImagePullError,
    MaxRoundsError,
    RamalamaRouter,
    ToolCallCutOffError,
)
from ramalama_sdk.testing import tiny_model

pytestmark = pytest.mark.container
# A forced tool call, with short arguments.
FORCED: ActOptions = {"tool_choice": "required", "max_tokens": 300, "seed": 7}


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("router-models")
    return [
        tiny_model(folder / "first.gguf", seed=1).as_uri(),
        tiny_model(folder / "second.gguf", seed=2).as_uri(),
    ]


def test_arguments_are_checked_before_anything_runs(two_models: list[str]) -> None:
    with pytest.raises(TypeError):
        RamalamaRouter(models=two_models[0])
    with pytest.raises(ValueError, match="twice"):
        RamalamaRouter(models=[two_models[0], two_models[0]])
    with pytest.raises(ValueError, match="models_max"):
        RamalamaRouter(models=two_models, models_max=0)
    with pytest.raises(ValueError, match="container only"):
        RamalamaRouter(models=two_models, container=False)
    router = RamalamaRouter(models=two_models)
    with pytest.raises(TypeError, match="model"):
        router.chat("Hi")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="not one of this router's models"):
        router.chat("Hi", model="file:///elsewhere.gguf")


def test_two_models_one_server(podman_bed: Bed, two_models: list[str]) -> None:
    first, second = two_models
    router = RamalamaRouter(
        models=two_models, models_max=1, base_image=podman_bed.image, max_tokens=8
    )
    with router:
        server = router._core._server
        assert server is not None and server.name is not None
        name, port = server.name, router.port
        assert podman_bed.containers(name) == [name]
        assert router.loaded() == []  # nothing loads until asked
        assert router.chat("Hi", model=first)["role"] == "assistant"
        assert router.loaded() == [first]
        # One slot: asking for the second model unloads the first.
        stream = router.stream("Hello", model=second)
        assert isinstance("".join(stream), str) and stream.finish_reason is not None
        assert router.loaded() == [second]
        router.load(first)
        assert router.loaded() == [first]
        router.unload(first)
        assert router.loaded() == []
        # Greedy replies to one prompt: different weights, different words,
        # so each request reached the model it named.
        replies = [router.chat("Tell me", model=m, temperature=0)["content"] for m in two_models]
        again = router.chat("Tell me", model=first, temperature=0)["content"]
        assert again == replies[0] and replies[0] != replies[1]
    assert podman_bed.wait_gone(name, timeout=10) == []
    assert port is not None and not port_is_listening(port)
    assert server_processes() == []


class City(pydantic.BaseModel):
    name: str
    population: int


@pytest.fixture(scope="module")
def tool_models(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("router-tools")
    return [
        tiny_model(folder / "first.gguf", seed=1, tools=True).as_uri(),
        tiny_model(folder / "second.gguf", seed=2, tools=True).as_uri(),
    ]


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def _ran(ended: BaseException) -> bool:
    """Whether act() ran each tool call of the model, with its arguments; or,
    where the random-weights reply ran on to max_tokens after its call (then
    no call of it is run, its last one may be unfinished), whether that reply
    called the tool this router offered."""
    if isinstance(ended, ToolCallCutOffError):
        reply = [m for m in ended.messages if m["role"] == "assistant"][-1]
        calls = reply.get("tool_calls") or []
        return bool(calls) and all(call["function"]["name"] == "add" for call in calls)
    assert isinstance(ended, MaxRoundsError)
    runs = ended.tool_runs
    return bool(runs) and all(
        run.error is None and run.result == run.call.arguments["a"] + run.call.arguments["b"]
        for run in runs
    )


def test_a_router_offers_what_works_behind_it(podman_bed: Bed, tool_models: list[str]) -> None:
    """A service that sends each user to one of several models: every call it
    makes names the model the same way, and each reaches that model."""
    first, second = tool_models
    with RamalamaRouter(models=tool_models, models_max=2, base_image=podman_bed.image) as router:
        # One round: the tool call is forced, and the tiny model's later
        # rounds would only fill the context.
        with pytest.raises((MaxRoundsError, ToolCallCutOffError)) as ended:
            router.act("Add 2 and 3", [add], model=first, max_rounds=1, **FORCED)
        assert _ran(ended.value)
        assert router.loaded() == [first]
        city = router.parse("Name a large city.", City, model=second, max_tokens=200, seed=1)
        assert isinstance(city, City)
        assert router.loaded() == [first, second]
        text = router.complete_text("Once upon a time", model=first, max_tokens=4)
        assert text.usage.completion_tokens > 0
        assert isinstance("".join(router.stream_text("Once", model=second, max_tokens=4)), str)
        chat = router.conversation(system="Be brief.", model=second)
        chat.say("Hi", max_tokens=4)
        with pytest.raises((MaxRoundsError, ToolCallCutOffError)) as ended:
            chat.act("Add 1 and 1", [add], max_rounds=1, **FORCED)
        assert _ran(ended.value)
        assert [m["role"] for m in chat.history] == ["system", "user", "assistant"]
        with pytest.raises(TypeError, match="model"):
            router.act("Add", [add])  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="not one of this router's models"):
            router.conversation(model="file:///elsewhere.gguf")
    # What a router cannot route, it does not offer.
    for missing in ("embed", "rerank", "tokenize", "count_tokens", "info", "connect"):
        assert not hasattr(router, missing), missing


async def test_async_router_offers_the_same(podman_bed: Bed, tool_models: list[str]) -> None:
    first, second = tool_models
    router = AsyncRamalamaRouter(models=tool_models, models_max=2, base_image=podman_bed.image)
    async with router:
        with pytest.raises((MaxRoundsError, ToolCallCutOffError)) as ended:
            await router.act("Add", [add], model=second, max_rounds=1, **FORCED)
        assert _ran(ended.value)
        city = await router.parse("A city?", City, model=first, max_tokens=200, seed=2)
        assert isinstance(city, City)
        assert (await router.complete_text("Once", model=first, max_tokens=4)).text is not None
        chat = router.conversation(model=first)
        await chat.say("Hi", max_tokens=4)
        assert len(chat.history) == 2
        assert await router.loaded() == [first, second]


async def test_async_router(podman_bed: Bed, two_models: list[str]) -> None:
    first, second = two_models
    router = AsyncRamalamaRouter(
        models=two_models, models_max=2, base_image=podman_bed.image, max_tokens=4
    )
    async with router:
        server = router._core._server
        assert server is not None and server.name is not None
        name = server.name
        await router.load(first)
        await router.load(second)
        assert await router.loaded() == [first, second]  # two slots: both stay
        assert (await router.chat("Hi", model=second))["role"] == "assistant"
        await router.unload(second)
        assert await router.loaded() == [first]
    assert podman_bed.wait_gone(name, timeout=10) == []


def test_router_container_goes_with_its_program(
    podman_bed: Bed, two_models: list[str], tmp_path: Path
) -> None:
    """The lifecycle guarantee holds for a router too: SIGKILL of its program."""
    code = (
        "import time\n"
        "from ramalama_sdk import RamalamaRouter\n"
        f"router = RamalamaRouter(models={two_models!r}, base_image={podman_bed.image!r})\n"
        "router.serve()\n"
        "print(router._core._server.name, router.port, flush=True)\n"
        "time.sleep(120)\n"
    )
    child = run_python(code, stdin=subprocess.PIPE)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=30)[1]
        name, port = line.split()
        assert podman_bed.containers(name) == [name]
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert podman_bed.wait_gone(name, timeout=10) == []
        assert not port_is_listening(int(port))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


# A localhost/ image is looked for on loopback only: no traffic leaves.
MISSING_IMAGE = "localhost/ramalama-sdk-no-such-image:1"


def test_an_image_that_cannot_be_pulled_never_suggests_the_host(
    podman_bed: Bed, two_models: list[str]
) -> None:
    """A router refuses container=False: its errors must not suggest it."""
    RamalamaRouter(models=two_models, base_image=podman_bed.image).download()  # the models
    router = RamalamaRouter(models=two_models, base_image=MISSING_IMAGE)
    with pytest.raises(ImagePullError) as pulled:
        router.download()  # the image is part of download()
    assert pulled.value.image == MISSING_IMAGE and "base_image=" in str(pulled.value)
    assert "container=False" not in str(pulled.value)
    assert "container only" in str(pulled.value)
    with pytest.raises(ImagePullError) as served:
        router.serve()  # serve() alone meets it in ramalama's own pull
    assert "container=False" not in str(served.value)
    assert not router.is_running and server_processes() == []


async def test_async_router_image_and_engine_errors_never_suggest_the_host(
    podman_bed: Bed, two_models: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await AsyncRamalamaRouter(models=two_models, base_image=podman_bed.image).download()
    router = AsyncRamalamaRouter(models=two_models, base_image=MISSING_IMAGE)
    with pytest.raises(ImagePullError) as pulled:
        await router.download()
    assert "container=False" not in str(pulled.value)
    # An engine that answers but cannot start the container (a limit above
    # what the kernel allows, as in tests/test_podman_lifecycle.py). The file
    # replaces podman's whole configuration: keep its network backend, which
    # podman would otherwise choose itself (CNI, whose plugins are not here).
    conf = tmp_path / "containers.conf"
    conf.write_text(
        '[containers]\ndefault_ulimits = ["nofile=2000000:2000000"]\n'
        '[network]\nnetwork_backend = "netavark"\n'
    )
    monkeypatch.setenv("CONTAINERS_CONF", str(conf))
    router = AsyncRamalamaRouter(models=two_models, base_image=podman_bed.image)
    with pytest.raises(ContainerEngineError) as engine:
        await router.serve()
    assert "container=False" not in str(engine.value)
    assert "container only" in str(engine.value)
