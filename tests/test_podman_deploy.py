"""generate() from an ``oci://`` model built here: the README's whole path.

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

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from podman_bed import Bed
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
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
