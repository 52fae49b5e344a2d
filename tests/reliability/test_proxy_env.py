"""A program runs with HTTP_PROXY/HTTPS_PROXY/ALL_PROXY set (a corporate laptop).

Local models are chosen for privacy: traffic to a loopback server, served or
connected to, never goes through the proxy. The proxy here is a listener that
records connections and never answers.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    seen: list[bytes] = []
    done = threading.Event()

    def record() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    seen.append(conn.recv(4096))
                except OSError:
                    seen.append(b"")

    thread = threading.Thread(target=record, daemon=True)
    thread.start()
    proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield seen
    finally:
        done.set()
        thread.join()
        listener.close()


async def test_loopback_never_goes_through_the_proxy(
    model_uri: str, proxy_env: list[bytes]
) -> None:
    with RamalamaModel(model=model_uri, max_tokens=4) as served:
        assert served.chat("Hello")["role"] == "assistant"
        assert served.base_url is not None
        for url in (served.base_url, served.base_url.replace("127.0.0.1", "localhost")):
            client = RamalamaModel.connect(url, served.api_key)
            assert client.chat("Hello", max_tokens=4)["role"] == "assistant"
            assert "".join(client.stream("Hello", max_tokens=4)) is not None
            client.stop()
            aclient = await AsyncRamalamaModel.connect(url, served.api_key)
            assert (await aclient.chat("Hello", max_tokens=4))["role"] == "assistant"
            await aclient.stop()
    assert proxy_env == []
