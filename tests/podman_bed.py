"""The container test bed: a working podman and a server image built here.

No registry is reachable from the test machines, so the image that serves
the tiny model is built locally: a root file system holding the
llama-server of the test stack (the one on the SDK's PATH), the libraries
``ldd`` names, the ELF loader, a static busybox and passwd/group, imported
with ``podman import``; then a Containerfile that puts llama-server on PATH,
built with ``--pull=never --network=none``. The tag is the hash of what went
in, so a changed llama-server is never served from a stale image.

Nothing here changes the system's configuration. Where podman is missing or
cannot run a container, the container tests are skipped, and the reason is
in the summary; ``.ci/podman-setup`` provisions a machine (as root) and
``RAMALAMA_SDK_REQUIRE_CONTAINER=1`` turns such a skip into a failure.

The session ends asserting that no ``ai.ramalama`` container of this run
(one that mounts this run's store) is left.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ramalama_sdk.process import engine

RECIPE = "4"  # bump when the image layout below changes
IMAGE_REPO = "localhost/ramalama-sdk-test"
LLAMA_DIR = "/opt/llama-server"
BUSYBOX_CACHE = Path.home() / ".cache" / "ramalama-sdk" / "busybox-static"
LABEL = "ai.ramalama"


@dataclass(frozen=True)
class Bed:
    """A podman that runs containers, and the image that serves llama.cpp models."""

    podman: str
    image: str

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.podman, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def containers(self, name: str | None = None) -> list[str]:
        """Names of the ``ai.ramalama`` containers that exist (running or not)."""
        argv = ["ps", "-a", "--filter", f"label={LABEL}", "--format", "{{.Names}}"]
        if name is not None:
            argv[2:2] = ["--filter", f"name=^{name}$"]
        done = self.run(*argv)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def wait_gone(self, name: str, timeout: float = 15) -> list[str]:
        """Wait for container ``name`` to be gone; the names still there."""
        deadline = time.monotonic() + timeout
        while True:
            left = self.containers(name)
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.1)

    def of_store(self, store: str) -> list[str]:
        """The ``ai.ramalama`` containers that mount something of ``store``."""
        ours = []
        for name in self.containers():
            done = self.run("container", "inspect", "--format", "{{json .Mounts}}", name)
            if done.returncode == 0 and store in done.stdout:
                ours.append(name)
        return ours


class Unavailable(Exception):
    """No working engine here; the message says why."""


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _is_static(path: str) -> bool:
    done = subprocess.run(["ldd", path], capture_output=True, text=True, check=False)
    return "not a dynamic executable" in done.stdout + done.stderr


def _ldd(binary: str) -> list[str]:
    """The absolute paths of the libraries and the loader that ``binary`` uses."""
    done = subprocess.run(["ldd", binary], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise Unavailable(f"ldd {binary} failed: {_last_line(done.stderr)}")
    paths = []
    for line in done.stdout.splitlines():
        words = line.split()
        if "=>" in words:
            target = words[words.index("=>") + 1]
            if target == "not":
                raise Unavailable(f"{binary} misses a library: {line.strip()}")
            paths.append(target)
        elif words and words[0].startswith("/"):
            paths.append(words[0])  # the ELF loader
    return paths


def _static_busybox() -> str:
    """A statically linked busybox: the system's, a cached one, or Debian's package."""
    for candidate in (os.environ.get("RAMALAMA_SDK_TEST_BUSYBOX"), "/bin/busybox"):
        if candidate and os.path.isfile(candidate) and _is_static(candidate):
            return candidate
    cached = BUSYBOX_CACHE / "busybox"
    if cached.is_file():
        return str(cached)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise Unavailable("no static busybox (set RAMALAMA_SDK_TEST_BUSYBOX to one)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["apt-get", "download", "busybox-static"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        debs = list(Path(tmp).glob("busybox-static_*.deb"))
        if done.returncode != 0 or not debs:
            raise Unavailable(f"apt-get download busybox-static: {_last_line(done.stderr)}")
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), f"{tmp}/x"], check=True)
        BUSYBOX_CACHE.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f"{tmp}/x/bin/busybox", f"{cached}.part")
        os.replace(f"{cached}.part", cached)
    return str(cached)


def _server_files(binary: str) -> list[Path]:
    """llama-server and the shared objects beside it (ggml loads backends from there)."""
    here = Path(binary).parent
    return [Path(binary), *sorted(p for p in here.iterdir() if ".so" in p.name and p.is_file())]


def _key(files: list[Path]) -> str:
    digest = hashlib.sha256(RECIPE.encode())
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _rootfs(root: Path, libraries: list[str], busybox: str) -> None:
    for path in libraries:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)  # follows links: the real file under the name used
    for directory in ("bin", "etc", "tmp", "usr/bin"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    shutil.copy2(busybox, root / "bin" / "busybox")
    for applet in ("sh", "ls", "cat", "ps", "sleep", "env"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")


def build_image(podman: str, binary: str) -> str:
    """The test image for ``binary``, built unless an identical one exists."""
    files = _server_files(binary)
    image = f"{IMAGE_REPO}:{_key(files)}"
    exists = subprocess.run([podman, "image", "exists", image], check=False)
    if exists.returncode == 0:
        return image
    outside = [p for p in _ldd(binary) if not p.startswith(str(Path(binary).parent) + "/")]
    busybox = _static_busybox()
    base = f"{IMAGE_REPO}-base:{image.rsplit(':', 1)[1]}"
    with tempfile.TemporaryDirectory(prefix="ramalama-sdk-image-") as tmp:
        root = Path(tmp, "rootfs")
        _rootfs(root, outside, busybox)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            [podman, "import", "-", base], stdin=tar.stdout, capture_output=True, text=True
        )
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        if imported.returncode != 0:
            raise Unavailable(f"podman import failed: {_last_line(imported.stderr)}")
        context = Path(tmp, "context")
        (context / "llama").mkdir(parents=True)
        for path in files:
            shutil.copy2(path, context / "llama" / path.name)
        libdirs = sorted({os.path.dirname(p) for p in outside} | {LLAMA_DIR})
        (context / "Containerfile").write_text(
            f"FROM {base}\n"
            f"COPY llama/ {LLAMA_DIR}/\n"
            f"ENV PATH={LLAMA_DIR}:/usr/bin:/bin LD_LIBRARY_PATH={':'.join(libdirs)}\n"
            'LABEL org.opencontainers.image.title="ramalama-sdk test server"\n'
        )
        built = subprocess.run(
            [podman, "build", "--pull=never", "--network=none", "-q", "-t", image, str(context)],
            capture_output=True,
            text=True,
            check=False,
        )
        subprocess.run([podman, "rmi", base], capture_output=True, check=False)
        if built.returncode != 0:
            raise Unavailable(f"podman build failed: {_last_line(built.stderr)}")
    return image


def find_bed() -> Bed:
    """A working engine and its image, or Unavailable saying why not."""
    path = engine.child_path()
    podman = shutil.which("podman", path=path)
    if podman is None:
        raise Unavailable("no podman on PATH")
    if not engine.engine_answers("podman"):
        raise Unavailable("'podman info' fails")
    binary = shutil.which("llama-server", path=path)
    if binary is None:
        raise Unavailable("no llama-server on PATH to put in the test image")
    image = build_image(podman, os.path.realpath(binary))
    bed = Bed(podman, image)
    # The settings of .ci/podman-setup are what make this work on some hosts.
    tried = bed.run("run", "--rm", "--network=none", image, "llama-server", "--version")
    if tried.returncode != 0:
        said = _last_line(tried.stderr or tried.stdout)
        raise Unavailable(f"podman cannot run the test image: {said}")
    return bed


@pytest.fixture(scope="session")
def podman_bed() -> Iterator[Bed]:
    """The engine and image for container tests, or a skip that says why."""
    try:
        bed = find_bed()
    except Unavailable as why:
        reason = f"container tests need a working podman: {why} (.ci/podman-setup provisions one)"
        if os.environ.get("RAMALAMA_SDK_REQUIRE_CONTAINER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield bed
    store = os.environ["RAMALAMA_STORE"]
    left = bed.of_store(store)
    for name in left:  # removed so that the machine is clean; the failure says so
        bed.run("rm", "--force", "--time", "0", "--ignore", name)
    assert not left, f"containers of this run left behind (now removed): {left}"
