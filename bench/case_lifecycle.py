"""Time to ready and stop: ``serve()``/``stop()`` against the same server
started by hand, and against the published ramalama-sdk 0.1.6.

By hand means the SDK's own ``ramalama serve`` argv (on a new port, with the
key in ``LLAMA_API_KEY`` as the SDK gives it), then the tightest loop a
caller could write: ``GET /health`` every millisecond. Its stop is
``killpg(SIGTERM)`` and a 1 ms poll until every process of the server is
dead and the port is free. The SDK's stop is timed until ``stop()``
returns, and checked afterwards against the same conditions. Each round
takes one sample of each, in a rotating order.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import IO

from ramalama_sdk import RamalamaModel

from . import rawhttp
from .published import PublishedDriver
from .stack import HOST, all_dead, free_port, port_is_free, tree_pids

POLL = 0.001


@dataclass
class Samples:
    ready_ns: list[float] = field(default_factory=list)
    stop_ns: list[float] = field(default_factory=list)
    unclean: int = 0

    def add(self, ready: float, stopped: float, clean: bool) -> None:
        self.ready_ns.append(ready)
        self.stop_ns.append(stopped)
        self.unclean += 0 if clean else 1


def sdk_cycle(model: RamalamaModel) -> tuple[float, float, bool]:
    start = time.perf_counter_ns()
    model.serve()
    ready = time.perf_counter_ns() - start
    server = model._server
    assert server is not None and server.popen is not None
    pids = tree_pids(server.popen.pid)
    port = server.port
    start = time.perf_counter_ns()
    model.stop()
    stopped = time.perf_counter_ns() - start
    return ready, stopped, all_dead(pids) and port_is_free(port)


def with_port(argv: list[str], port: int) -> list[str]:
    """The SDK's serve argv with another ``--port``."""
    out = list(argv)
    out[out.index("--port") + 1] = str(port)
    return out


def hand_cycle(argv: list[str], log: IO[bytes]) -> tuple[float, float, bool]:
    port = free_port()
    env = dict(os.environ, LLAMA_API_KEY=secrets.token_urlsafe(32))
    start = time.perf_counter_ns()
    popen = subprocess.Popen(
        with_port(argv, port),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        env=env,
        start_new_session=True,
    )
    try:
        while not rawhttp.health_ok(HOST, port):
            if popen.poll() is not None:
                raise RuntimeError(f"ramalama serve exited with {popen.returncode}")
            time.sleep(POLL)
        ready = time.perf_counter_ns() - start
        pids = tree_pids(popen.pid)
        start = time.perf_counter_ns()
        os.killpg(popen.pid, signal.SIGTERM)
        popen.wait()
        while not (all_dead(pids) and port_is_free(port)):
            time.sleep(POLL)
        stopped = time.perf_counter_ns() - start
        return ready, stopped, True
    finally:
        if popen.poll() is None:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait()


def run(
    model: RamalamaModel,
    argv: list[str],
    published: PublishedDriver | None,
    rounds: int,
    warmup: int,
    log: IO[bytes],
) -> dict[str, Samples]:
    """``rounds`` samples of each contender; the model must not be serving."""
    samples = {"sdk": Samples(), "hand": Samples(), "published": Samples()}

    def take(name: str) -> tuple[float, float, bool]:
        if name == "sdk":
            return sdk_cycle(model)
        if name == "hand":
            return hand_cycle(argv, log)
        assert published is not None
        answer = published.call(cmd="cycle")
        return answer["ready_ns"], answer["stop_ns"], bool(answer["clean"])

    names = ["sdk", "hand"] + (["published"] if published is not None else [])
    for i in range(warmup + rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            figures = take(name)
            if i >= warmup:
                samples[name].add(*figures)
    return samples
