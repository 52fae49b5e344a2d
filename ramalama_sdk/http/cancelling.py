"""The calls in flight of one model, so that ``cancel()`` reaches them all.

Each call (``chat()``, ``act()``, a stream...) holds a ``Canceller`` for as
long as it runs; its requests hang their connection on it, one after the
other. ``cancel()`` closes the connection of each request in flight, which
makes llama-server stop generating, exactly as closing a stream does; the
next request of a cancelled call is never sent.

The call's canceller is found through a context variable, so the requests
of a call nested in another (the rounds of ``act()``, a ``chat()`` received
as a stream) belong to the outer call without being passed down. It names
the model too: a tool of one model's ``act()`` that asks another model
makes a call of that other model, which its own ``cancel()`` stops.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..errors import RequestCancelledError
from .connections import Canceller

_CURRENT: ContextVar[tuple[InFlight, Canceller] | None] = ContextVar(
    "ramalama_sdk_call", default=None
)


def cancelled_error() -> RequestCancelledError:
    return RequestCancelledError("the request was stopped by the model's cancel()")


class InFlight:
    """The cancellers of a model's calls in flight; safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Weak: a stream abandoned before its end does not stay here.
        self._live: weakref.WeakSet[Canceller] = weakref.WeakSet()

    def current(self) -> Canceller | None:
        """The canceller of this model's call that this code runs in, if any."""
        scope = _CURRENT.get()
        return scope[1] if scope is not None and scope[0] is self else None

    @contextmanager
    def call(self) -> Iterator[Canceller]:
        """The scope of one call: a new canceller, or the outer call's."""
        outer = self.current()
        if outer is not None:
            yield outer
            return
        canceller = Canceller()
        self.add(canceller)
        token = _CURRENT.set((self, canceller))
        try:
            yield canceller
        finally:
            _CURRENT.reset(token)
            self.discard(canceller)

    def add(self, canceller: Canceller) -> None:
        with self._lock:
            self._live.add(canceller)

    def discard(self, canceller: Canceller) -> None:
        with self._lock:
            self._live.discard(canceller)

    def cancel_all(self) -> int:
        """Cancel every call in flight; how many there were."""
        with self._lock:
            live = [canceller for canceller in self._live if not canceller.closed]
            self._live.clear()
        for canceller in live:
            canceller.cancel()
        return len(live)
