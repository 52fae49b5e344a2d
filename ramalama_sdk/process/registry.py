"""Every model this process is serving: ``running()`` and ``stop_all()``.

A notebook whose cell is re-run makes a new model object each time, and the
previous one lives on (``Out[n]`` holds it) with its server: hundreds of MB
each with a real model. These two functions find and stop them.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models.core import ModelCore

_lock = threading.Lock()
_serving: weakref.WeakSet[ModelCore] = weakref.WeakSet()


def track(model: ModelCore) -> None:
    with _lock:
        _serving.add(model)


def untrack(model: ModelCore) -> None:
    with _lock:
        _serving.discard(model)


def running() -> list[ModelCore]:
    """The models (sync and async) that this process serves now.

        >>> import ramalama_sdk
        >>> ramalama_sdk.running()
        []

    Models connected to a server elsewhere (``connect()``) are not listed:
    this process did not start their server.
    """
    with _lock:
        models = list(_serving)
    return [model for model in models if model.is_running]


def stop_all() -> int:
    """Stop every server this process started; return how many were serving.

    Blocking, also for AsyncRamalamaModel objects (their servers are stopped
    here; their connections close when they are next used or collected).
    """
    with _lock:
        models = list(_serving)
    stopped = 0
    for model in models:
        stopped += model.is_running
        stop = getattr(model, "stop", None)
        if callable(stop) and not inspect.iscoroutinefunction(stop):  # a blocking model
            stop()
        else:
            server = model._release()
            if server is not None:
                server.stop()
    return stopped
