"""A server so overloaded that it takes no new connection (its accept queue
is full): the error must say that no connection could be made, not that no
reply came within request_timeout.

The stand-in is a loopback listener that never accepts, with its accept queue
filled: Linux then drops new connection attempts, as it does for a real
server swamped by clients. No llama-server is needed to show it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ramalama_sdk import APITimeoutError, AsyncRamalamaModel, RamalamaModel


@pytest.fixture
def swamped_url() -> Iterator[str]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue; later attempts are dropped
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connect_timeouts_are_named(swamped_url: str) -> None:
    with pytest.raises(APITimeoutError, match="could not connect"):
        RamalamaModel.connect(swamped_url, model="m").chat("Hello")
    model = await AsyncRamalamaModel.connect(swamped_url, model="m")
    try:
        with pytest.raises(APITimeoutError, match="could not connect"):
            await model.chat("Hello")
    finally:
        await model.stop()
