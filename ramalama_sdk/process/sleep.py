"""Whether llama-server sleeps (``sleep_after``), read from its log. Pure.

After ``--sleep-idle-seconds`` without a task, llama-server frees the model
and its context, logging ``server is entering sleeping state``; the next
request that needs the model loads it again (``server is exiting sleeping
state``). ``/health``, ``/props`` and ``/v1/models`` answer meanwhile
without waking it, and ``/props`` says ``"is_sleeping": true``.
"""

from __future__ import annotations

from collections.abc import Sequence

ENTERING = "server is entering sleeping state"
EXITING = "server is exiting sleeping state"
# Lines read back from the log's end: once asleep the server writes nothing
# more, and a wake-up is a few lines before the request's own.
TAIL_LINES = 60


def asleep(lines: Sequence[str]) -> bool:
    """Whether the last sleep event in these log lines is falling asleep.

    >>> asleep(["srv  handle_sleeping_state: server is entering sleeping state"])
    True
    >>> asleep([f"srv  x: {ENTERING}", f"srv  x: {EXITING}", "slot launch_slot_: ..."])
    False
    >>> asleep([])
    False
    """
    for line in reversed(lines):
        if EXITING in line:
            return False
        if ENTERING in line:
            return True
    return False
