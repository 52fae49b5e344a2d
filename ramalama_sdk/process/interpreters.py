"""A Python interpreter to run the watchdog script (process/watchdog.py) with.

``sys.executable`` is not one in a frozen app (PyInstaller) or under uwsgi,
and running it would start the program again.
"""

from __future__ import annotations

import os
import re
import shutil
import sys

from .watchdog import WatchdogError

_PYTHON = re.compile(r"^python(\d+(\.\d+)*)?$")


def is_python_name(path: str) -> bool:
    """Whether an executable's name is a Python interpreter's.

    >>> [is_python_name(p) for p in ("/usr/bin/python3.11", "/v/bin/python", "/app/uwsgi")]
    [True, True, False]
    """
    return bool(_PYTHON.match(os.path.basename(path)))


def interpreter_candidates() -> list[str]:
    """Where a Python interpreter for the watchdog may be, best first.

    ``sys.executable`` unless the program is frozen or is not a Python
    (uwsgi); then the base and environment interpreters, then ``PATH``.
    """
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    found: list[str] = []
    if not getattr(sys, "frozen", False):
        found.append(sys.executable)
    found.append(getattr(sys, "_base_executable", "") or "")
    for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        for name in (version, "python3"):
            found.append(os.path.join(prefix, "bin", name))
    for name in (version, "python3"):
        found.append(shutil.which(name) or "")
    return [path for path in dict.fromkeys(found) if path]


def find_interpreter() -> str:
    """A Python interpreter to run the watchdog script, or WatchdogError."""
    for path in interpreter_candidates():
        if is_python_name(path) and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise WatchdogError(
        "no Python interpreter found to run the container watchdog (this program's "
        f"sys.executable, {sys.executable!r}, is not one): put python3 on PATH"
    )
