"""Deployment files run on the real engine, and generate() from an ``oci://`` model.

The kube manifest of a ``file://`` model is run with ``podman kube play``,
the compose file with ``podman-compose up``, and the ``.container`` unit as
quadlet would run it (quadlet itself is not in podman 4.3, the test
translates the unit's keys); each serves, answers a chat
through ``connect()`` with the key from the files, refuses a request without
it, and is published only on the model's host. Fixtures take every pod,
container and network down whatever happens.

Then the README's ``oci://`` path, from a model image built here.
``ramalama convert`` turns the tiny GGUF into a model image in podman's local
storage (no registry), and ``generate()`` writes the kube manifest and the
quadlet units that mount that image as a volume. Two things of these
machines are worked around, and only these: ramalama's default build stage
(``ubi10-micro``) is in a registry that is blocked here, so the test bed's
image (which has a busybox for the ``RUN ln``) stands in for it through
ramalama's ``--carimage``; and podman 4.3's ``build`` rejects the
``--security-opt=no-new-privileges`` that ramalama 0.25 passes it, so a
wrapper first on PATH drops that one flag from ``build`` and runs the real
podman for everything.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
import yaml  # type: ignore[import-untyped]

from podman_bed import Bed
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.deploy import LocalModelWarning, generate
from ramalama_sdk.options import ModelOptions
from ramalama_sdk.process import engine

pytestmark = pytest.mark.container

WRAPPER = """#!/bin/sh
if [ "$1" = build ]; then
    for arg do
        shift
        [ "$arg" = "--security-opt=no-new-privileges" ] && continue
        set -- "$@" "$arg"
    done
fi
exec "{podman}" "$@"
"""


IMAGE_VOLUMES = (5, 3)
"""The first podman whose ``kube play`` mounts image volumes (podman pull request 23819)."""


def podman_version(bed: Bed) -> tuple[int, ...]:
    done = bed.run("version", "--format", "{{.Client.Version}}")
    assert done.returncode == 0, done.stderr
    match = re.match(r"(\d+)\.(\d+)", done.stdout.strip())
    assert match, done.stdout
    return tuple(int(part) for part in match.groups())


def wait_healthy(port: int, timeout: float = 120) -> None:
    """Until the server on ``port`` answers ``/health`` with 200 (it loads first)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"nothing healthy on port {port}"
        time.sleep(0.05)


def listening_on(port: int) -> set[str]:
    """The addresses on which something of this machine listens on ``port``."""
    found = set()
    for conn in psutil.net_connections("tcp"):
        local: Any = conn.laddr  # an (ip, port) pair
        if conn.status == psutil.CONN_LISTEN and local and local.port == port:
            found.add(local.ip)
    return found


def refused_without_key(port: int) -> list[int]:
    """The status of a chat request, and of a model list, sent without a key."""
    base = f"http://127.0.0.1:{port}/v1"
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    return [
        requests.post(f"{base}/chat/completions", json=body, timeout=30).status_code,
        requests.get(f"{base}/models", timeout=30).status_code,
    ]


def chat_with(port: int, key: str) -> str:
    model = RamalamaModel.connect(f"http://127.0.0.1:{port}/v1", api_key=key)
    try:
        # Greedy: a sampled reply of the random tiny model is empty (its first
        # token the end of turn) about one time in twenty.
        reply = model.chat("Hello", max_tokens=4, temperature=0)
    finally:
        model.stop()  # closes its kept-alive connection; the server keeps running
    assert reply["role"] == "assistant"
    return str(reply["content"])


_DEPLOYMENTS = itertools.count()


def deployment() -> str:
    """A name of this test run's own, so that parallel runs never share a pod."""
    return f"sdk-deploy-{os.getpid()}-{next(_DEPLOYMENTS)}"


@pytest.fixture
def kube_play(podman_bed: Bed) -> Iterator[Callable[[Path], None]]:
    """``podman kube play`` a manifest; ``podman kube down`` it at the end, always."""
    played: list[Path] = []

    def play(manifest: Path) -> None:
        played.append(manifest)
        done = podman_bed.run("kube", "play", str(manifest))
        assert done.returncode == 0, done.stderr

    def pods(name: str) -> list[str]:
        done = podman_bed.run("pod", "ps", "--filter", f"name=^{name}-pod", "--format", "{{.Name}}")
        return done.stdout.split()

    yield play
    for manifest in played:
        name = yaml.safe_load(manifest.read_text())["metadata"]["name"]
        if pods(name):  # at once: kube down gives the server 10 s to stop
            podman_bed.run("pod", "rm", "--force", "--time", "0", *pods(name))
        podman_bed.run("kube", "down", str(manifest))  # whatever else the manifest made
        assert pods(name) == [], "pods left after kube down"


@pytest.fixture
def compose_up(podman_bed: Bed) -> Iterator[Callable[[Path, str], None]]:
    """``podman-compose up -d`` a compose file; down, and its network gone, at the end."""
    started: list[tuple[Path, str]] = []

    def compose(path: Path, project: str, *args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "podman_compose", "-f", str(path), "-p", project, *args]
        return subprocess.run(
            argv, cwd=path.parent, capture_output=True, text=True, timeout=300, check=False
        )

    def up(path: Path, project: str) -> None:
        started.append((path, project))
        done = compose(path, project, "up", "-d")
        assert done.returncode == 0, done.stdout + done.stderr

    yield up
    for path, project in started:
        compose(path, project, "down", "-t", "0")
        names = yaml.safe_load(path.read_text())["services"].values()
        for service in names:
            podman_bed.run("rm", "--force", "--time", "0", "--ignore", service["container_name"])
        podman_bed.run("network", "rm", "--force", f"{project}_default")
        for service in names:
            assert podman_bed.run("container", "exists", service["container_name"]).returncode


def test_kube_play_the_manifest_then_chat_on_loopback_with_the_key(
    podman_bed: Bed,
    model_uri: str,
    free_port: int,
    tmp_path: Path,
    kube_play: Callable[[Path], None],
) -> None:
    key = "kube-key-0123456789"
    options = ModelOptions(
        model=model_uri, port=free_port, base_image=podman_bed.image, api_key=key, max_tokens=8
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LocalModelWarning)  # this machine runs it
        (manifest,) = generate(options, "kube", tmp_path, name=deployment())
    kube_play(manifest)
    wait_healthy(free_port)
    assert listening_on(free_port) == {"127.0.0.1"}  # the model's host, not 0.0.0.0
    assert refused_without_key(free_port) == [401, 401]
    assert chat_with(free_port, key)


def test_compose_up_then_chat_on_loopback_with_the_generated_key(
    podman_bed: Bed,
    model_uri: str,
    free_port: int,
    tmp_path: Path,
    compose_up: Callable[[Path, str], None],
) -> None:
    options = ModelOptions(model=model_uri, port=free_port, base_image=podman_bed.image)
    name = deployment()
    compose, key_file = generate(options, "compose", tmp_path, name=name)
    key = key_file.read_text().strip().removeprefix("LLAMA_API_KEY=")
    compose_up(compose, name)
    wait_healthy(free_port)
    assert listening_on(free_port) == {"127.0.0.1"}
    assert refused_without_key(free_port) == [401, 401]
    assert chat_with(free_port, key)


# quadlet, podman's systemd generator, came with podman 4.4: on 4.3 a
# .container unit is run as quadlet would run it, key by key, for the keys
# ramalama writes (an unknown key fails the test rather than being dropped).
_QUADLET_FLAGS = {
    "ContainerName": "--name",
    "PublishPort": "--publish",
    "Environment": "--env",
    "Mount": "--mount",
    "DropCapability": "--cap-drop",
}
_QUADLET_SWITCHES = {
    "RunInit": ["--init"],
    "SecurityLabelDisable": ["--security-opt", "label=disable"],
    "NoNewPrivileges": ["--security-opt", "no-new-privileges"],
}


def podman_run_of(unit: Path) -> list[str]:
    """The ``podman run`` arguments of a ``.container`` unit's ``[Container]`` section."""
    argv = ["run", "--detach", "--rm"]
    image, command = None, []
    in_container = False
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            in_container = line == "[Container]"
        if not in_container or not line or line.startswith(("#", "[")):
            continue
        key, _, value = line.partition("=")
        if key == "Image":
            image = value
        elif key == "Exec":
            command = shlex.split(value)
        elif key == "EnvironmentFile":  # relative to the unit's folder
            argv += ["--env-file", str(unit.parent / value)]
        elif key == "AddDevice":  # "-": only if the device exists
            if not value.startswith("-") or os.path.exists(value[1:]):
                argv += ["--device", value.lstrip("-")]
        elif key in _QUADLET_FLAGS:
            argv += [_QUADLET_FLAGS[key], value]
        elif key in _QUADLET_SWITCHES:
            argv += _QUADLET_SWITCHES[key] if value == "true" else []
        else:
            raise AssertionError(f"{unit.name}: no translation for {line!r}")
    assert image is not None, f"{unit.name} has no Image="
    return [*argv, image, *command]


@pytest.fixture
def podman_run(podman_bed: Bed) -> Iterator[Callable[[Path], None]]:
    """Run a ``.container`` unit as quadlet would; the container is removed at the end."""
    names: list[str] = []

    def run(unit: Path) -> None:
        argv = podman_run_of(unit)
        names.append(argv[argv.index("--name") + 1])
        done = podman_bed.run(*argv)
        assert done.returncode == 0, done.stderr

    yield run
    for name in names:
        podman_bed.run("rm", "--force", "--time", "0", "--ignore", name)
        assert podman_bed.run("container", "exists", name).returncode != 0


def test_the_quadlet_unit_run_as_quadlet_would_then_chat_with_its_key_file(
    podman_bed: Bed,
    model_uri: str,
    free_port: int,
    tmp_path: Path,
    podman_run: Callable[[Path], None],
) -> None:
    key = "quadlet-key-0123456789"
    options = ModelOptions(
        model=model_uri, port=free_port, base_image=podman_bed.image, api_key=key
    )
    unit, key_file = generate(options, "quadlet", tmp_path, name=deployment())
    assert key not in unit.read_text() and key_file.stat().st_mode & 0o777 == 0o600
    podman_run(unit)
    wait_healthy(free_port)
    assert listening_on(free_port) == {"127.0.0.1"}
    assert refused_without_key(free_port) == [401, 401]
    assert chat_with(free_port, key)


@pytest.fixture(scope="module")
def oci_model(
    podman_bed: Bed, model_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    bin_dir = tmp_path_factory.mktemp("podman-wrapper")
    wrapper = bin_dir / "podman"
    wrapper.write_text(WRAPPER.format(podman=podman_bed.podman))
    wrapper.chmod(0o755)
    reference = f"localhost/ramalama-sdk-test-model:{os.getpid()}"
    before = set(podman_bed.run("images", "--all", "--quiet", "--no-trunc").stdout.split())
    env = engine.child_env({"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    done = subprocess.run(
        [
            engine.find_ramalama(),
            "--container",
            "--engine",
            "podman",
            "convert",
            "--type",
            "raw",
            "--carimage",
            podman_bed.image,
            model_uri,
            f"oci://{reference}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert podman_bed.run("image", "exists", reference).returncode == 0
    try:
        yield f"oci://{reference}"
    finally:
        # ramalama makes REFERENCE a manifest list, over an image and its
        # build stage: all three go.
        podman_bed.run("manifest", "rm", reference)
        made = set(podman_bed.run("images", "--all", "--quiet", "--no-trunc").stdout.split())
        if made - before:
            podman_bed.run("rmi", "--force", *sorted(made - before))


def test_kube_manifest_mounts_the_model_image(oci_model: str, tmp_path: Path) -> None:
    model = RamalamaModel(model=oci_model, port=8080, container=True)
    paths = model.generate("kube", tmp_path)
    [manifest] = [p for p in paths if p.suffix == ".yaml"]
    text = manifest.read_text()
    reference = oci_model.removeprefix("oci://")
    # The model is an image volume, not a host path: the manifest works on any node.
    assert "volumes:" in text and "- image:" in text
    assert f"reference: {reference}" in text
    assert "hostPath" not in text
    assert "mountPath: /mnt/models" in text


async def test_quadlet_mounts_the_model_image(oci_model: str, tmp_path: Path) -> None:
    model = AsyncRamalamaModel(model=oci_model, port=8080, container=True)
    paths = await model.generate("quadlet", tmp_path)
    [unit] = [p for p in paths if p.suffix == ".container"]
    reference = oci_model.removeprefix("oci://")
    text = unit.read_text()
    assert f"Mount=type=image,source={reference},destination=/mnt/models" in text
    assert "PublishPort=127.0.0.1:8080:8080" in text


def test_the_image_model_manifest_has_a_relative_subpath(oci_model: str, tmp_path: Path) -> None:
    (manifest,) = generate(ModelOptions(model=oci_model, port=8080), "kube", tmp_path)
    (document,) = yaml.safe_load_all(manifest.read_text())
    (container,) = document["spec"]["template"]["spec"]["containers"]
    subpaths = [m["subPath"] for m in container["volumeMounts"] if "subPath" in m]
    assert subpaths == ["models"]  # ramalama 0.25 writes "/models", which Kubernetes refuses


def test_kube_play_the_image_model_manifest_then_chat(
    podman_bed: Bed,
    oci_model: str,
    free_port: int,
    tmp_path: Path,
    kube_play: Callable[[Path], None],
) -> None:
    if podman_version(podman_bed) < IMAGE_VOLUMES:
        pytest.skip(
            "podman kube play mounts image volumes from podman 5.3 on; "
            f"this is {'.'.join(map(str, podman_version(podman_bed)))}"
        )
    key = "oci-key-0123456789"
    options = ModelOptions(
        model=oci_model, port=free_port, base_image=podman_bed.image, api_key=key, max_tokens=8
    )
    (manifest,) = generate(options, "kube", tmp_path, name=deployment())
    kube_play(manifest)
    wait_healthy(free_port)
    assert listening_on(free_port) == {"127.0.0.1"}
    assert refused_without_key(free_port) == [401, 401]
    assert chat_with(free_port, key)
