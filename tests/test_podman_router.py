"""Router mode for real: two tiny models behind one llama-server in podman."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from conftest import port_is_listening, run_python, server_processes
from podman_bed import Bed
from ramalama_sdk import (
    AsyncRamalamaRouter,
    ContainerEngineError,
    ImagePullError,
    RamalamaRouter,
)
from ramalama_sdk.testing import tiny_model

pytestmark = pytest.mark.container


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
        server = router._server
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


async def test_async_router(podman_bed: Bed, two_models: list[str]) -> None:
    first, second = two_models
    router = AsyncRamalamaRouter(
        models=two_models, models_max=2, base_image=podman_bed.image, max_tokens=4
    )
    async with router:
        server = router._server
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
        "print(router._server.name, router.port, flush=True)\n"
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
