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
from functools import partial

import pytest

from conftest import (
    FULL_SLOT_TOKENS,
    in_flight,
    llama_server_of,
    released_replies,
    server_processes,
    settled,
    sockets_to,
    started_replies,
    wait_until,
)
from ramalama_sdk import RamalamaModel
from ramalama_sdk.models._sync.io import uninterrupted
from ramalama_sdk.models.core import SHORT_REPLY_TOKENS

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
def _interrupt_when_busy(
    model: RamalamaModel, *, frozen: bool = False, freeze: bool = False
) -> Iterator[None]:
    """Raise KeyboardInterrupt in the main thread once the server is generating.

    ``frozen``: the server is stopped (SIGSTOP) and cannot answer, so once a
    pooled connection carries the request. ``freeze``: stop the server first,
    so that the reply is mid-way whatever this machine's speed. The caller
    resumes the server.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    since = started_replies(model)

    def interrupt() -> None:
        if wait_until(
            partial(in_flight, model) if frozen else lambda: started_replies(model) > since,
            timeout=120,
        ):
            if freeze:
                llama_server_of(model).suspend()
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)

    previous = signal.signal(signal.SIGALRM, handler)
    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        yield
    finally:
        thread.join()
        signal.signal(signal.SIGALRM, previous)


def test_interrupted_short_chat_leaves_the_model_usable(model_uri: str) -> None:
    """A short reply comes in one piece over a kept-alive connection."""
    with RamalamaModel(model=model_uri, temp=0) as model:
        assert model.port is not None
        model.chat("warm up", max_tokens=2)  # a kept-alive connection exists
        before = sockets_to(model.port)
        llama = llama_server_of(model)
        llama.suspend()  # the reply, however short, cannot come before the interrupt
        try:
            with pytest.raises(KeyboardInterrupt), _interrupt_when_busy(model, frozen=True):
                model.chat("Tell me everything", max_tokens=SHORT_REPLY_TOKENS)
        finally:
            llama.resume()
        # The interrupted exchange's connection is closed, not kept half-used.
        assert sockets_to(model.port) == before - 1
        # The next calls on the same thread work: no "Request-sent" leftovers.
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"
        assert model.conversation().say("Hi", max_tokens=4)["role"] == "assistant"


@pytest.mark.parametrize("call", ["chat", "complete", "stream", "complete_text", "chat_extra_body"])
def test_interrupted_long_reply_stops_the_generation(model_uri: str, call: str) -> None:
    """A reply that may be long is received as a stream, by chat(),
    complete() and complete_text() too: the interrupt closes its connection and llama-server
    stops generating it, instead of filling the context for nobody.

    (This llama-server generates a non-streamed reply to its end after its
    client has gone: measured, all 2047 tokens. Hence SHORT_REPLY_TOKENS.)
    """
    with RamalamaModel(model=model_uri, temp=0) as model:
        assert model.port is not None
        model.chat("warm up", max_tokens=2)
        _, released = settled(model, 1)  # the warm-up's
        before = sockets_to(model.port)
        try:
            with pytest.raises(KeyboardInterrupt), _interrupt_when_busy(model, freeze=True):
                if call == "chat":
                    model.chat("Tell me everything")  # no max_tokens: up to the context
                elif call == "complete":
                    model.complete([{"role": "user", "content": "Go on"}], max_tokens=3000)
                elif call == "complete_text":
                    model.complete_text("Once upon a time")  # no max_tokens either
                elif call == "chat_extra_body":  # the limit the server sees is extra_body's
                    model.chat("Tell me everything", max_tokens=8, extra_body={"max_tokens": 3000})
                else:
                    for _ in model.stream("Tell me everything"):
                        pass
        finally:
            llama_server_of(model).resume()
        assert wait_until(lambda: len(released_replies(model)) > released, timeout=60)
        assert released_replies(model)[-1] < FULL_SLOT_TOKENS  # cut short
        assert sockets_to(model.port) == before  # the stream's own connection is gone
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


@pytest.mark.parametrize("interrupts", [1, 3])
def test_interrupt_during_stop_waits_for_the_whole_stop(interrupts: int) -> None:
    """Python 3.11's Thread.join(), interrupted while the thread runs, marks
    that thread stopped: a stop() waiting that way returned while its worker
    was still killing processes, and the model said it was not running while
    a llama-server still ran (seen as a dying process on a fresh machine)."""
    finished = threading.Event()
    release = threading.Event()

    def slow_stop() -> None:
        release.wait(timeout=30)
        finished.set()

    def interrupt_then_release() -> None:
        for _ in range(interrupts):
            time.sleep(0.05)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
        time.sleep(0.05)
        release.set()

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, handler)
    helper = threading.Thread(target=interrupt_then_release)
    helper.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            uninterrupted(slow_stop)
        assert finished.is_set()  # the interrupt came only after the whole stop
    finally:
        release.set()
        helper.join()
        signal.signal(signal.SIGALRM, previous)
