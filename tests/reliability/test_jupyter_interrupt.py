"""A Jupyter interrupt (KeyboardInterrupt) lands in the middle of a blocking call.

Jupyter's "interrupt kernel", Ctrl-C in a REPL and any exception raised by a
signal handler (pytest-timeout's signal method) all surface as an exception
at an arbitrary point of ``chat()`` or ``stop()``. The model must stay usable,
a streamed reply must be cancelled on the server, and a stop must never leave
processes behind.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest

from conftest import busy_slots, server_processes, wait_until
from ramalama_sdk import RamalamaModel

# A reply that fills the slot's context (the tiny model's 2048 tokens: a second
# or two here), work that an interrupted request must not leave the server
# doing; the interrupts come as soon as a slot is busy.
LONG_TOKENS = 30_000
LONG_CTX = 32_768


@contextmanager
def _interrupt_after(seconds: float) -> Iterator[None]:
    """Raise KeyboardInterrupt in the main thread after ``seconds``, as Jupyter does."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _interrupt_when_busy(model: RamalamaModel) -> Iterator[None]:
    """Raise KeyboardInterrupt in the main thread once the server is generating."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    def interrupt() -> None:
        if wait_until(lambda: busy_slots(model) > 0, timeout=120):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)

    previous = signal.signal(signal.SIGALRM, handler)
    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        signal.signal(signal.SIGALRM, previous)


def _cancelled(model: RamalamaModel) -> int:
    return sum("cancel task" in line for line in model.logs(10_000))


def _sockets_to(port: int) -> int:
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port and conn.status == psutil.CONN_ESTABLISHED
    )


def test_interrupted_chat_leaves_the_model_usable(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX) as model:
        assert model.port is not None
        model.chat("warm up", max_tokens=2)  # a kept-alive connection exists
        before = _sockets_to(model.port)
        with pytest.raises(KeyboardInterrupt), _interrupt_when_busy(model):
            model.chat("Tell me everything", max_tokens=LONG_TOKENS)
        # The interrupted exchange's connection is closed, not kept half-used.
        assert _sockets_to(model.port) == before - 1
        # The next calls on the same thread work: no "Request-sent" leftovers.
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        assert model.conversation().say("Hi", max_tokens=4)["role"] == "assistant"


def test_interrupted_stream_stops_the_generation(model_uri: str) -> None:
    """A stream's closed connection makes llama-server cancel the reply.

    (This llama-server does not cancel a non-streamed reply whose client has
    gone: measured, it generates all 2047 tokens of the context.)
    """
    with RamalamaModel(model=model_uri, temp=0, ctx_size=LONG_CTX) as model:
        cancelled_before = _cancelled(model)
        with pytest.raises(KeyboardInterrupt), _interrupt_when_busy(model):
            for _ in model.stream("Tell me everything", max_tokens=LONG_TOKENS):
                pass
        # The server says it cancelled: the reply's natural end would not.
        assert wait_until(lambda: _cancelled(model) > cancelled_before, timeout=30)
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


@pytest.mark.parametrize("delay_ms", [0.2, 1, 2, 4, 8, 12])
def test_interrupted_stop_never_forgets_a_running_server(model_uri: str, delay_ms: float) -> None:
    """An interrupt before stop() began leaves the model serving (and knowing
    it); once stop() has begun, it completes. Never a server that the model
    no longer knows about."""
    model = RamalamaModel(model=model_uri)
    model.serve()
    try:
        with _interrupt_after(delay_ms / 1000):
            model.stop()
            time.sleep(0.05)  # the interrupt may come after stop() returned
    except KeyboardInterrupt:
        pass
    if not model.is_running:
        assert server_processes() == []
    model.stop()  # what the user does next; it must reach whatever still runs
    assert server_processes() == []
