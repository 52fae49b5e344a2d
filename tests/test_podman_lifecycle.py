"""Container mode for real: ramalama serves the tiny model in podman.

The image is the test bed's (podman_bed.py), built here from the test
stack's llama-server; ``container=True`` is explicit because the suite runs
ramalama without containers otherwise. Every test checks with ``podman ps``
that its container is gone once the model is stopped.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import port_is_listening, server_processes
from podman_bed import Bed
from ramalama_sdk import (
    AsyncRamalamaModel,
    ContainerEngineError,
    DownloadError,
    ImagePullError,
    RamalamaModel,
    ServerNotRunningError,
    ServerStartError,
)

pytestmark = pytest.mark.container

BLOCKED_DROP_IN = Path("/etc/containers/registries.conf.d/50-ramalama-sdk-ci-blocked.conf")


def in_podman(bed: Bed, uri: str, **options: Any) -> RamalamaModel:
    return RamalamaModel(model=uri, container=True, base_image=bed.image, **options)


def container_of(model: RamalamaModel | AsyncRamalamaModel) -> str:
    server = model._server
    assert server is not None and server.name is not None
    return server.name


def assert_gone(bed: Bed, name: str, port: int | None) -> None:
    assert bed.wait_gone(name, timeout=10) == []
    assert port is not None and not port_is_listening(port)
    assert server_processes() == []


def test_with_block_serves_chats_streams_and_removes_its_container(
    podman_bed: Bed, model_uri: str
) -> None:
    with in_podman(podman_bed, model_uri, max_tokens=16) as model:
        name = container_of(model)
        assert podman_bed.containers(name) == [name]
        port = model.port
        assert port is not None and port_is_listening(port)
        # Published on loopback only, and the server inside demands the key.
        published = podman_bed.run("port", name).stdout.split()
        assert published[-1] == f"127.0.0.1:{port}", published
        assert requests.get(f"{model.base_url}/models", timeout=10).status_code == 401
        reply = model.chat("How tall is Michael Jordan?")
        assert reply["role"] == "assistant" and isinstance(reply["content"], str)
        stream = model.stream("Hello", max_tokens=8)
        text = "".join(stream)
        assert stream.finish_reason in ("length", "stop") and isinstance(text, str)
    assert not model.is_running
    # stop() removes the container itself: gone at once, no wait needed.
    assert podman_bed.containers(name) == []
    assert_gone(podman_bed, name, port)


def test_download_serve_twice_stop_and_serve_again(podman_bed: Bed, model_uri: str) -> None:
    model = in_podman(podman_bed, model_uri, max_tokens=8)
    model.download()
    assert not model.is_running
    model.serve()
    try:
        first, port = container_of(model), model.port
        model.serve()  # a no-op while it runs: the same container, the same port
        assert (container_of(model), model.port) == (first, port)
        assert podman_bed.containers(first) == [first]
        model.stop()
        assert_gone(podman_bed, first, port)
        model.serve()
        second, port = container_of(model), model.port
        assert second != first and podman_bed.containers(second) == [second]
        assert model.chat("Hi")["role"] == "assistant"
    finally:
        model.stop()
    model.stop()  # idempotent
    assert_gone(podman_bed, second, port)


async def test_async_model_in_podman(podman_bed: Bed, model_uri: str) -> None:
    model = AsyncRamalamaModel(
        model=model_uri, container=True, base_image=podman_bed.image, max_tokens=8
    )
    async with model:
        name, port = container_of(model), model.port
        assert podman_bed.containers(name) == [name]
        assert (await model.chat("Hi"))["role"] == "assistant"
        stream = model.stream("Hello")
        chunks = [delta async for delta in stream]
        assert stream.finish_reason in ("length", "stop") and all(
            isinstance(c, str) for c in chunks
        )
    assert_gone(podman_bed, name, port)


def test_port_taken(podman_bed: Bed, model_uri: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        model = in_podman(podman_bed, model_uri, port=port)
        with pytest.raises(ServerStartError, match=f"port {port} is already in use"):
            model.serve()
        assert not model.is_running
    assert podman_bed.of_store(_store()) == []
    assert server_processes() == []


def test_container_killed_while_idle(podman_bed: Bed, model_uri: str) -> None:
    """The fault of tests/reliability/test_crash.py, with the engine killing it."""
    with in_podman(podman_bed, model_uri, max_tokens=4) as model:
        name = container_of(model)
        assert podman_bed.run("kill", name).returncode == 0
        deadline = time.monotonic() + 30
        while model.is_running and time.monotonic() < deadline:
            time.sleep(0.05)  # ramalama exits once podman run sees the end
        with pytest.raises(ServerNotRunningError, match="has stopped"):
            model.chat("Hello")
        model.serve()  # the same object serves again, in a new container
        assert model.chat("Hello")["role"] == "assistant"
        second, port = container_of(model), model.port
        assert second != name
    assert_gone(podman_bed, second, port)


def test_serve_stop_cycles_leave_no_container(podman_bed: Bed, model_uri: str) -> None:
    model = in_podman(podman_bed, model_uri, max_tokens=2)
    names = []
    for _ in range(3):
        model.serve()
        names.append(container_of(model))
        model.stop()
    assert len(set(names)) == 3
    assert podman_bed.of_store(_store()) == []
    assert server_processes() == []


# -- errors that name the real cause -------------------------------------------


def test_missing_image_is_an_image_pull_error(podman_bed: Bed, model_uri: str) -> None:
    # A localhost/ image is looked for on loopback only: no traffic leaves.
    image = "localhost/ramalama-sdk-no-such-image:1"
    model = RamalamaModel(model=model_uri, container=True, base_image=image)
    with pytest.raises(ImagePullError) as info:
        model.serve()
    error = info.value
    assert isinstance(error, ServerStartError) and not isinstance(error, DownloadError)
    assert error.image == image
    assert image in str(error) and "base_image=" in str(error) and "container=False" in str(error)
    assert not model.is_running
    assert podman_bed.of_store(_store()) == []


@pytest.mark.skipif(
    not BLOCKED_DROP_IN.exists(), reason="public registries are blocked by .ci/podman-setup only"
)
def test_blocked_registry_fails_fast_and_clearly(podman_bed: Bed, model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, container=True)  # ramalama's default image
    started = time.monotonic()
    with pytest.raises(ImagePullError, match="is blocked") as info:
        model.serve()
    assert time.monotonic() - started < 30  # generous: it takes about a second
    assert info.value.image.startswith("quay.io/ramalama/")
    assert "container=False" in str(info.value)


def _engine_conf(tmp_path: Path, containers: dict[str, object]) -> Path:
    """A whole containers.conf: this machine's drop-ins, ``containers`` on top.

    CONTAINERS_CONF replaces the whole configuration, drop-ins included.
    Without the network backend pinned, podman 4.3 picks one itself, finds
    Debian's CNI config, fails on its missing plugins, and records ``cni``
    in its storage for every later run: the backend is always written out.
    """
    tomllib = pytest.importorskip("tomllib", reason="reading the drop-ins takes Python 3.11")
    merged: dict[str, dict[str, object]] = {}
    for drop_in in sorted(Path("/etc/containers/containers.conf.d").glob("*.conf")):
        for table, values in tomllib.loads(drop_in.read_text()).items():
            merged.setdefault(table, {}).update(values)
    merged.setdefault("network", {})["network_backend"] = "netavark"
    merged.setdefault("containers", {}).update(containers)
    conf = tmp_path / "containers.conf"
    conf.write_text(
        "".join(
            f"[{table}]\n"
            + "".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items())
            for table, values in merged.items()
        )
    )
    return conf


@pytest.mark.parametrize(
    ("setting", "said"),
    [
        # A limit above what the kernel allows, as on hosts without the
        # settings of .ci/podman-setup: a text the SDK knows (runc's).
        ({"default_ulimits": ["nofile=2000000:2000000", "nproc=32768:32768"]}, "runc"),
        # A text the SDK does not know: podman's own exit code (125) tells.
        ({"seccomp_profile": "/nonexistent/seccomp.json"}, "seccomp profile"),
    ],
)
def test_engine_that_cannot_run_containers(
    podman_bed: Bed,
    model_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: dict[str, object],
    said: str,
) -> None:
    """podman answers ``info`` but every container fails to start."""
    recorded = _recorded_backend()
    monkeypatch.setenv("CONTAINERS_CONF", str(_engine_conf(tmp_path, setting)))
    model = in_podman(podman_bed, model_uri)
    with pytest.raises(ContainerEngineError) as info:
        model.serve()
    assert isinstance(info.value, ServerStartError) and not isinstance(info.value, DownloadError)
    assert info.value.engine == "podman"
    assert info.value.exit_code in (125, 126, 127)
    assert "podman could not run the server's container" in str(info.value)
    assert said in str(info.value)
    assert "container=False" in str(info.value)
    monkeypatch.delenv("CONTAINERS_CONF")
    assert podman_bed.of_store(_store()) == []
    # The run leaves podman's own record of its network backend as it was.
    assert _recorded_backend() == recorded


def _recorded_backend() -> str:
    recorded = Path("/var/lib/containers/storage/defaultNetworkBackend")
    return recorded.read_text() if recorded.exists() else ""


def _store() -> str:
    return os.environ["RAMALAMA_STORE"]


# -- the server image is part of download() ------------------------------------


@pytest.fixture
def podman_calls(podman_bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every podman command run from now on, logged by a wrapper that runs the real one."""
    log = tmp_path / "podman-calls.txt"
    wrapper = tmp_path / "bin" / "podman"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{log}"\nexec "{podman_bed.podman}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(log: Path) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines()] if log.exists() else []


def test_download_checks_a_present_image_and_pulls_nothing(
    podman_bed: Bed, model_uri: str, podman_calls: Path
) -> None:
    in_podman(podman_bed, model_uri).download(progress=None)
    calls = _calls(podman_calls)
    assert ["image", "inspect", "--format", "{{.Id}}", podman_bed.image] in calls
    assert [c for c in calls if c[:1] == ["pull"]] == []


@pytest.mark.skipif(
    not BLOCKED_DROP_IN.exists(), reason="public registries are blocked by .ci/podman-setup only"
)
def test_download_with_a_blocked_registry_fails_fast_naming_the_image(
    podman_bed: Bed, model_uri: str, podman_calls: Path
) -> None:
    model = RamalamaModel(model=model_uri, container=True)  # ramalama's default image
    started = time.monotonic()
    with pytest.raises(ImagePullError, match="is blocked") as info:
        model.download(progress=None)
    assert time.monotonic() - started < 30  # generous: about a second here
    assert not isinstance(info.value, DownloadError)
    assert info.value.image.startswith("quay.io/ramalama/ramalama:")
    assert [c for c in _calls(podman_calls) if c[:1] == ["pull"]] == [["pull", info.value.image]]


async def test_async_download_of_a_missing_image(podman_bed: Bed, model_uri: str) -> None:
    image = "localhost/ramalama-sdk-no-such-image:2"  # looked for on loopback only
    model = AsyncRamalamaModel(model=model_uri, container=True, base_image=image)
    with pytest.raises(ImagePullError) as info:
        await model.download(progress=None)
    assert info.value.image == image and "base_image=" in str(info.value)
