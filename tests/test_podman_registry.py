"""download() pulls a missing server image for real, from a registry on loopback.

The registry is Debian's ``docker-registry`` (distribution 2.8), run by the
test on 127.0.0.1 with its storage in a temp dir: the binary on PATH, or the
one of ``RAMALAMA_SDK_TEST_REGISTRY``, or unpacked from the package
(``apt-get download``, nothing installed). A podman registries.conf of the
test's own marks it insecure (plain HTTP), so nothing else is configured.
The image pushed there is new (a layer of random bytes over the test bed's
image), so the pull really transfers a layer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from podman_bed import Bed, Unavailable
from ramalama_sdk import RamalamaModel

pytestmark = pytest.mark.container

CACHE = Path.home() / ".cache" / "ramalama-sdk" / "docker-registry"


def _registry_binary() -> str:
    for candidate in (os.environ.get("RAMALAMA_SDK_TEST_REGISTRY"), shutil.which("registry")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("docker-registry")
    if found is not None:
        return found
    cached = CACHE / "docker-registry"
    if cached.is_file():
        return str(cached)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("no docker-registry (set RAMALAMA_SDK_TEST_REGISTRY to one)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["apt-get", "download", "docker-registry"], cwd=tmp, capture_output=True, check=False
        )
        debs = list(Path(tmp).glob("docker-registry_*.deb"))
        if done.returncode != 0 or not debs:
            raise Unavailable("apt-get download docker-registry failed")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/x"], check=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f"{tmp}/x/usr/bin/docker-registry", f"{cached}.part")
        os.replace(f"{cached}.part", cached)
    return str(cached)


@pytest.fixture
def loopback_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a registry that lives for the test."""
    try:
        binary = _registry_binary()
    except Unavailable as why:
        pytest.skip(f"no registry to pull from: {why}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"127.0.0.1:{port}"
    config = tmp_path / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {tmp_path / 'data'}\n"
        f"http:\n  addr: {address}\n"
    )
    conf = tmp_path / "registries.conf"
    # It replaces the system's file: the public registries stay blocked here too.
    blocked = "".join(
        f'[[registry]]\nlocation = "{name}"\nblocked = true\n'
        for name in ("quay.io", "docker.io", "ghcr.io", "registry.access.redhat.com")
    )
    conf.write_text(
        "unqualified-search-registries = []\n"
        f'[[registry]]\nlocation = "{address}"\ninsecure = true\n{blocked}'
    )
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    server = subprocess.Popen(
        [binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "no registry"
                time.sleep(0.05)
        yield address
    finally:
        server.kill()
        server.wait()


def _new_image(bed: Bed, tmp_path: Path, reference: str) -> None:
    """An image not in local storage any more, only in the registry."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "noise").write_bytes(os.urandom(2 * 1024 * 1024))
    (context / "Containerfile").write_text(f"FROM {bed.image}\nCOPY noise /noise\n")
    local = f"localhost/ramalama-sdk-test-pull:{os.getpid()}"
    built = bed.run("build", "--pull=never", "--network=none", "-q", "-t", local, str(context))
    assert built.returncode == 0, built.stderr
    pushed = bed.run("push", local, reference)
    assert pushed.returncode == 0, pushed.stderr
    assert bed.run("rmi", local).returncode == 0
    assert bed.run("image", "exists", reference).returncode != 0


def test_download_pulls_a_missing_image_then_serves_with_it(
    podman_bed: Bed, loopback_registry: str, model_uri: str, tmp_path: Path
) -> None:
    reference = f"{loopback_registry}/ramalama-sdk-test-pull:{os.getpid()}"
    _new_image(podman_bed, tmp_path, reference)
    try:
        model = RamalamaModel(model=model_uri, container=True, base_image=reference, max_tokens=4)
        model.download(progress=None)
        assert podman_bed.run("image", "exists", reference).returncode == 0
        with model:  # downloads again (nothing to pull now) and serves from it
            assert model.chat("Hi")["role"] == "assistant"
            server = model._server
            assert server is not None and server.name is not None
            image = podman_bed.run("inspect", "--format", "{{.ImageName}}", server.name)
            assert image.stdout.strip() == reference
    finally:
        podman_bed.run("rmi", "--force", reference)
