"""A generated file that readers see whole or not at all.

The tiny test models are written under a temporary name beside their place,
then renamed over it: a server or a parallel test run that opens the name
never reads half a file, and a failed write leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import tempfile
from collections.abc import Callable


def write_whole(target: pathlib.Path, write: Callable[[str], None]) -> None:
    """Have ``write`` fill a temporary file beside ``target``, then rename it
    to ``target``, readable by all.

    >>> import shutil
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> def fill(name: str) -> None:
    ...     pathlib.Path(name).write_text("hi")
    >>> write_whole(folder / "a.txt", fill)
    >>> oct((folder / "a.txt").stat().st_mode & 0o777), (folder / "a.txt").read_text()
    ('0o644', 'hi')
    >>> def disk_full(name: str) -> None:
    ...     raise OSError("no space left on device")
    >>> write_whole(folder / "b.txt", disk_full)
    Traceback (most recent call last):
    ...
    OSError: no space left on device
    >>> sorted(path.name for path in folder.iterdir())
    ['a.txt']
    >>> shutil.rmtree(folder)
    """
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp_name)
        # mkstemp creates the file owner-only; a model is not a secret.
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
