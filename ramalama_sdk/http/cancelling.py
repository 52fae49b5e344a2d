"""The calls in flight, so that ``cancel()`` reaches them: a model's, or a token's.

Each call (``chat()``, ``act()``, a stream...) holds a ``Canceller`` for as
long as it runs; its requests hang their connection on it, one after the
other. Cancelling it closes the connection of the request in flight, which
makes llama-server stop generating, exactly as closing a stream does; the
next request of a cancelled call is never sent.

Two things hold cancellers: the model (``InFlight``: all its calls, for
``model.cancel()``) and a ``CancelToken`` (the calls it was given to, of
one model or several). Both only close the calls' own cancellers: there is
one way to stop a request.

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
BY_MODEL = "the model's cancel()"
BY_TOKEN = "its CancelToken"


def cancelled_error(cancel: Canceller | None = None) -> RequestCancelledError:
    """The error of a call whose canceller was cancelled, saying by what."""
    by = cancel.cancelled_by if cancel is not None and cancel.cancelled_by else BY_MODEL
    return RequestCancelledError(f"the request was stopped by {by}")


class _Cancellers:
    """A set of live cancellers, safe from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Weak: a stream abandoned before its end does not stay here.
        self._live: weakref.WeakSet[Canceller] = weakref.WeakSet()

    def add(self, canceller: Canceller) -> None:
        with self._lock:
            self._live.add(canceller)

    def discard(self, canceller: Canceller) -> None:
        with self._lock:
            self._live.discard(canceller)

    def _take_live(self) -> list[Canceller]:
        """Forget every canceller; those still open. Called with the lock held."""
        live = [canceller for canceller in self._live if not canceller.closed]
        self._live.clear()
        return live


class CancelToken(_Cancellers):
    """Stops the calls it is given to, and only those, from any thread or task.

        token = CancelToken()
        threading.Timer(2.0, token.cancel).start()   # a "stop" button
        try:
            model.chat("Tell me everything", cancel=token)
        except RequestCancelledError:
            print("stopped")

    Every call takes it as ``cancel=``: ``chat()``, ``complete()``,
    ``complete_text()``, ``stream()``, ``stream_text()``, ``act()``,
    ``parse()``, and the router's and conversation's. One token may be given
    to several calls, of one model or several, to stop them together. Once
    cancelled it stays cancelled: a call given it later raises
    RequestCancelledError before anything is sent.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cancelled = False

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self._cancelled})"

    @property
    def cancelled(self) -> bool:
        """Whether ``cancel()`` has been called."""
        return self._cancelled

    def cancel(self) -> int:
        """Stop every call given this token that is still in flight; return how
        many there were. A plain call (not awaited), safe from any thread;
        calling it again does nothing (and returns 0)."""
        with self._lock:
            self._cancelled = True
            live = self._take_live()
        for canceller in live:
            canceller.cancel(BY_TOKEN)
        return len(live)

    def add(self, canceller: Canceller) -> None:
        """Let this token stop ``canceller``'s call; RequestCancelledError if
        the token is already cancelled (the call then sends nothing)."""
        with self._lock:
            if self._cancelled:
                raise RequestCancelledError(f"the request was stopped by {BY_TOKEN}")
            self._live.add(canceller)

    def holds(self, canceller: Canceller) -> bool:
        with self._lock:
            return canceller in self._live


def check_token(value: object) -> CancelToken | None:
    """``cancel=`` as given: a CancelToken or None, else TypeError.

    >>> check_token(None) is None
    True
    >>> check_token(True)
    Traceback (most recent call last):
    ...
    TypeError: cancel must be a CancelToken or None, not bool
    """
    if value is None or isinstance(value, CancelToken):
        return value
    raise TypeError(f"cancel must be a CancelToken or None, not {type(value).__name__}")


class InFlight(_Cancellers):
    """The cancellers of a model's calls in flight; safe from any thread."""

    def current(self) -> Canceller | None:
        """The canceller of this model's call that this code runs in, if any."""
        scope = _CURRENT.get()
        return scope[1] if scope is not None and scope[0] is self else None

    @contextmanager
    def call(self, token: object = None) -> Iterator[Canceller]:
        """The scope of one call: a new canceller, or the outer call's.

        ``token`` (the call's ``cancel=``) is checked first: TypeError for
        anything but a CancelToken, RequestCancelledError if it is already
        cancelled. A call given a token of its own inside another call of
        this model (a tool of ``act()`` that asks the same model) gets a
        canceller of its own, so that its token stops it alone.
        """
        checked = check_token(token)
        outer = self.current()
        if outer is not None and (checked is None or checked.holds(outer)):
            yield outer
            return
        canceller = Canceller()
        if checked is not None:
            checked.add(canceller)
        self.add(canceller)
        scope = _CURRENT.set((self, canceller))
        try:
            yield canceller
        finally:
            _CURRENT.reset(scope)
            self.discard(canceller)
            if checked is not None:
                checked.discard(canceller)

    def for_stream(self, token: object = None) -> tuple[Canceller | None, CancelToken | None]:
        """The canceller a new stream shares (the call's it runs in, if any;
        None: a canceller of its own), and its checked token. A stream given
        a token has a canceller of its own, which joins the token."""
        checked = check_token(token)
        outer = self.current()
        if checked is None or (outer is not None and checked.holds(outer)):
            return outer, None
        return None, checked

    def cancel_all(self) -> int:
        """Cancel every call in flight; how many there were."""
        with self._lock:
            live = self._take_live()
        for canceller in live:
            canceller.cancel(BY_MODEL)
        return len(live)
