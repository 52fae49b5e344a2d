"""The blocking I/O primitives of the generated shells in this folder.

Hand-written, like ``_async/io.py``, whose names it mirrors one for one:
``scripts/make_sync.py`` turns ``await io.sleep(...)`` in an async shell into
``io.sleep(...)`` here, and everything else about a capability exists once.
Nothing here starts or needs an event loop (forked workers, Jupyter, threads),
except to run a coroutine that the caller gave as a tool or a callback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ...agents.agent import Outcome, Prepared
from ...errors import ServerNotRunningError, ToolServerError
from ...process.server import Server
from ...process.steps import Launch, Owns, Probe, Sleep, Spawn, Step, Stop, Work
from ...process.supervisor import spawn, stop_spawned
from ...types import ChatMessage, Completion

if TYPE_CHECKING:
    from .transport import Transport

T = TypeVar("T")
Lock = threading.RLock


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def to_thread(function: Callable[..., T], *args: Any) -> T:
    """Blocking work: in this thread, where the caller already waits."""
    return function(*args)


# How long an interrupted Thread.start() may take to show that it started.
_START_GRACE = 5.0


def uninterrupted(stop: Callable[[], None]) -> None:
    """Run ``stop`` to its end even if KeyboardInterrupt comes meanwhile.

    Python delivers signals to the main thread only, so the work runs in a
    thread of its own: a Ctrl-C while processes are being killed then
    cannot leave them running, forgotten by the model. The interrupt is
    raised once the work is done.

    The wait is on an event the worker sets, not on ``Thread.join()``:
    Python 3.11's join, interrupted while the thread still runs, releases
    that thread's state lock and marks it stopped, so ``is_alive()`` says
    False while processes are still being killed.
    """
    began, done = threading.Event(), threading.Event()

    def work() -> None:
        began.set()
        try:
            stop()
        finally:
            done.set()

    interrupted: BaseException | None = None
    try:
        threading.Thread(target=work, name="ramalama-sdk-stop").start()
    except BaseException as exc:  # KeyboardInterrupt inside start()
        interrupted = exc
        # The thread may exist already: it says so within moments.
        deadline = time.monotonic() + _START_GRACE
        while not began.is_set() and time.monotonic() < deadline:
            try:
                time.sleep(0.001)
            except BaseException as again:  # a second interrupt
                interrupted = again
    # Thread.is_alive() is no judge either: it takes the same lock.
    while (began.is_set() or interrupted is None) and not done.is_set():
        try:
            done.wait()
        except BaseException as exc:  # KeyboardInterrupt, a signal handler's
            interrupted = exc
    if interrupted is not None:
        raise interrupted


class Abort:
    """Set by ``stop()`` from another thread while ``serve()`` is loading."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> None:
        self._event.wait(seconds)  # stop() wakes it


def settle(server: Server, wait: float = 0.5) -> None:
    """Give a dying server a moment to exit, so the error says it stopped."""
    if server.popen is not None:
        try:
            server.popen.wait(timeout=wait)
        except Exception:  # still running: the error is a connection error
            pass


def shut_down(server: Server | None, transport: Transport | None) -> None:
    """Close the connections, then stop the server: a request racing the
    stop fails on the client side instead of on a half-killed server."""
    if transport is not None:
        transport.close()
    if server is not None:
        server.stop()


def stop_at_exit(server: Server, transport: Transport) -> None:
    """What a model that was never stopped does at collection or exit."""
    server.stop()
    transport.forget()


def drive_steps(
    steps: Generator[Step, object, T],
    env: Callable[[], dict[str, str]],
    transport: Transport | None = None,
    *,
    abort: Abort | None = None,
    what: str = "",
) -> T:
    """Run a state machine of steps with blocking I/O; ``abort``: a stop()
    from another thread ends it (ServerNotRunningError)."""
    cleanups: list[Callable[[], None]] = []
    result: object = None
    try:
        while True:
            if abort is not None and abort.is_set():
                raise ServerNotRunningError(f"stop() was called while {what!r} was starting")
            try:
                step = steps.send(result)
            except StopIteration as done:
                return cast(T, done.value)
            result = None
            if isinstance(step, Spawn):
                cleanups.append(step.server.stop)
                result = step.server.start(env()).result()
            elif isinstance(step, Launch):
                future = spawn(step.argv, env=step.env, stdout=step.stdout, stderr=step.stderr)
                cleanups.append(functools.partial(stop_spawned, future))
                result = future.result()
            elif isinstance(step, Probe):
                assert transport is not None
                result = transport.probe(step.url)
            elif isinstance(step, Owns):
                result = step.server.owns_port()
            elif isinstance(step, Sleep):
                if abort is not None:
                    abort.sleep(step.seconds)
                else:
                    time.sleep(step.seconds)
            elif isinstance(step, Stop):
                step.server.stop()
            elif isinstance(step, Work):
                result = step.run()
    except BaseException:

        def clean_up() -> None:
            for cleanup in cleanups:  # servers and commands stop idempotently
                cleanup()

        uninterrupted(clean_up)  # a second Ctrl-C must not leave one running
        steps.close()
        raise


# -- tools and callbacks ----------------------------------------------------------


def run_tools(calls: list[Prepared]) -> list[Outcome]:
    """Run a reply's tool calls one after the other, in this thread."""
    return [_run_one(ready) for ready in calls]


def _run_one(ready: Prepared) -> Outcome:
    if ready.error is not None or ready.tool is None or ready.tool.function is None:
        return Outcome()
    try:
        return Outcome(resolve(ready.tool.function(*ready.args, **ready.kwargs)))
    except ToolServerError:  # not the tool's answer: the server behind it is gone
        raise
    except Exception as exc:  # sent back to the model, or re-raised by the loop
        return Outcome(exception=exc)


def call_back(callback: Callable[[ChatMessage], object], message: ChatMessage) -> None:
    """Tell ``callback`` of a message; a coroutine it returns is run to its end."""
    resolve(callback(message))


def resolve(value: object) -> Any:
    """``value``, or what it gives if it is awaitable (a coroutine tool or
    callback): run in an event loop of its own, in a thread of its own, so
    that it works whether this thread runs a loop (Jupyter) or not."""
    if not inspect.isawaitable(value):
        return value

    async def awaited() -> Any:
        return await value

    with concurrent.futures.ThreadPoolExecutor(1, "ramalama-sdk-coroutine") as pool:
        return pool.submit(asyncio.run, awaited()).result()


# What act() and parse() ask the model with.
Complete = Callable[[list[ChatMessage], dict[str, Any]], Completion]
