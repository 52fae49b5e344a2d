"""The I/O that the SDK's state machines ask for, and nothing else.

Starting a server (server.py) and pulling a model (store/pull.py) are generators
that yield these steps and are sent each step's result. The sync model
performs a step with blocking calls, the async model with awaits; the logic
between the steps exists once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from .server import Server


@dataclass(frozen=True)
class Spawn:
    """Start the server's child process and send back its Popen."""

    server: Server


@dataclass(frozen=True)
class Probe:
    """GET ``url``; send back True when it answered 200."""

    url: str


@dataclass(frozen=True)
class Owns:
    """Send back whether the server's own processes hold its port."""

    server: Server


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Stop:
    """Stop this server (blocking work: the async driver runs it in a thread)."""

    server: Server


@dataclass(frozen=True)
class Launch:
    """Start a short-lived ramalama command; send back its Popen.

    The driver stops its whole process group if the caller gives up
    (KeyboardInterrupt, a cancelled task) before it has ended.
    """

    argv: Sequence[str]
    env: dict[str, str]
    stdout: int | IO[bytes]
    stderr: int | IO[bytes]


@dataclass(frozen=True)
class Work:
    """Blocking work (files, a short request); send back its result.

    The async driver runs it in a worker thread, off the event loop.
    """

    run: Callable[[], object]


Step = Spawn | Probe | Owns | Sleep | Stop | Launch | Work
