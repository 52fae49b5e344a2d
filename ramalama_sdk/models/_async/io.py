"""The asyncio I/O primitives that the async shells in this folder are written with.

The shells are the one source of every capability; ``scripts/make_sync.py``
generates their blocking twins in ``_sync/``, where ``io.py`` (hand-written
like this one) has the same names with blocking bodies. Nothing here blocks
the event loop: children are forked by the spawner thread, waits are
``asyncio.sleep``, and blocking work (stopping processes, plain-function
tools) runs in threads of its own, never on the loop's default executor, so
that a hung tool cannot make ``stop()`` wait behind it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Generator
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
Lock = asyncio.Lock
_EXIT_POLL = 0.02


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def to_thread(function: Callable[..., T], *args: Any) -> T:
    """Blocking work in a thread of its own, off the loop."""
    return await asyncio.wrap_future(in_thread(function, *args))


def in_thread(function: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """Start ``function`` in a new daemon thread now; its future.

    Not the loop's default executor: work queued there waits behind
    whatever else runs there (a user's hung tool), and ``asyncio.run``
    waits for all of it at its end.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(value: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(cast(T, value))

    context = contextvars.copy_context()  # as asyncio.to_thread does

    def run() -> None:
        try:
            value = context.run(function, *args)
        except BaseException as exc:
            _call_soon(loop, settle, None, exc)
        else:
            _call_soon(loop, settle, value, None)

    threading.Thread(target=run, name="ramalama-sdk-worker", daemon=True).start()
    return future


def _call_soon(loop: asyncio.AbstractEventLoop, *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(*args)
    except RuntimeError:  # the loop has closed meanwhile: nobody waits
        pass


async def uninterrupted(stop: Callable[[], Awaitable[None]]) -> None:
    """The async flavour needs no thread: ``stop`` shields what must finish."""
    await stop()


class Abort:
    """Set by ``stop()`` while ``serve()`` is loading, from another task."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def clear(self) -> None:
        self._set = False

    def is_set(self) -> bool:
        return self._set


async def settle(server: Server, wait: float = 0.5) -> None:
    """Give a dying server a moment to exit, so the error says it stopped."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while server.exit_code is None and loop.time() < deadline:
        await asyncio.sleep(_EXIT_POLL)


async def shut_down(server: Server | None, transport: Transport | None) -> None:
    """Stop the server and close the connections.

    The stop starts in a thread before the first await: a cancelled stop()
    (anyio cancels every await in a cancelled scope, e.g. a timeout around
    'async with model:') still stops every process.
    """
    stopping = in_thread(server.stop) if server is not None else None
    try:
        if transport is not None:
            await asyncio.shield(transport.close())
    finally:
        if stopping is not None:
            await asyncio.shield(stopping)


def stop_at_exit(server: Server, transport: Transport) -> None:
    """What a model that was never stopped does at collection or exit."""
    server.stop()
    transport.forget()


async def drive_steps(
    steps: Generator[Step, object, T],
    env: Callable[[], dict[str, str]],
    transport: Transport | None = None,
    *,
    abort: Abort | None = None,
    what: str = "",
) -> T:
    """Run a state machine of steps without blocking the loop."""
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
                result = await asyncio.wrap_future(step.server.start(env()))  # type: ignore[arg-type]
            elif isinstance(step, Launch):
                future = spawn(step.argv, env=step.env, stdout=step.stdout, stderr=step.stderr)
                cleanups.append(functools.partial(stop_spawned, future))
                result = await asyncio.wrap_future(future)  # type: ignore[arg-type]
            elif isinstance(step, Probe):
                assert transport is not None
                result = await transport.probe(step.url)
            elif isinstance(step, Owns):
                result = await to_thread(step.server.owns_port)
            elif isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Stop):
                await to_thread(step.server.stop)
            elif isinstance(step, Work):
                result = await to_thread(step.run)
    except BaseException:
        # Stopping waits for processes to exit: in threads, off the loop,
        # all started before the first await so that a cancellation of
        # the wait leaves none of them undone.
        pending = [in_thread(cleanup) for cleanup in cleanups]
        steps.close()
        if pending:
            await asyncio.shield(asyncio.gather(*pending))
        raise


# -- tools and callbacks ----------------------------------------------------------


async def run_tools(calls: list[Prepared]) -> list[Outcome]:
    """Run a reply's tool calls concurrently: a coroutine function is awaited,
    a plain function runs in a thread of its own (see ``in_thread``)."""
    return list(await asyncio.gather(*(_run_one(ready) for ready in calls)))


async def _run_one(ready: Prepared) -> Outcome:
    if ready.error is not None or ready.tool is None or ready.tool.function is None:
        return Outcome()
    function = ready.tool.function
    try:
        if inspect.iscoroutinefunction(function):
            value = await function(*ready.args, **ready.kwargs)
        else:
            call = functools.partial(function, *ready.args, **ready.kwargs)
            value = await to_thread(call)
            if inspect.isawaitable(value):
                value = await value
        return Outcome(value)
    except ToolServerError:  # not the tool's answer: the server behind it is gone
        raise
    except Exception as exc:  # sent back to the model, or re-raised by the loop
        return Outcome(exception=exc)


async def call_back(callback: Callable[[ChatMessage], object], message: ChatMessage) -> None:
    """Tell ``callback`` of a message; a coroutine it returns is awaited."""
    value = callback(message)
    if inspect.isawaitable(value):
        await value


# What act() and parse() ask the model with.
Complete = Callable[[list[ChatMessage], dict[str, Any]], Awaitable[Completion]]
