"""Warnings that point at the user's line, however deep in the package they start.

A fixed ``stacklevel`` counts frames, and the frames between a public method
and the place that warns change whenever the code inside changes (a cancel
scope, a helper, the generated blocking twin). ``warn()`` counts them when it
warns instead: the warning names the first frame outside this package.
"""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def stacklevel() -> int:
    """The ``stacklevel`` for a ``warnings.warn()`` made by this function's
    caller that names the first frame outside this package."""
    frame = sys._getframe(1)  # the caller, which will call warnings.warn()
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def warn(message: str, category: type[Warning]) -> None:
    """``warnings.warn(message, category)`` at the user's line."""
    warnings.warn(message, category, stacklevel=stacklevel())
