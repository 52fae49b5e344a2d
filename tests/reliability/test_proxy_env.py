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


# How a program may write this machine's address: llama-server bound to every
# interface prints 0.0.0.0; the rest are spellings that connect() takes.
# ("localhost." is loopback too, by RFC 6761, but this machine's resolver does
# not know it: http/addresses.py's doctest covers it.)
LOOPBACK_SPELLINGS = ["0.0.0.0", "127.1", "2130706433", "[::ffff:127.0.0.1]"]


async def test_loopback_written_any_way_never_goes_through_the_proxy(
    model_uri: str, proxy_env: list[bytes]
) -> None:
    prompt = "my private question"
    with RamalamaModel(model=model_uri, max_tokens=4) as served:
        assert served.base_url is not None and served.api_key is not None
        for host in LOOPBACK_SPELLINGS:
            url = served.base_url.replace("127.0.0.1", host)
            client = RamalamaModel.connect(url, served.api_key)
            assert client.chat(prompt, max_tokens=4)["role"] == "assistant"
            client.stop()
            aclient = await AsyncRamalamaModel.connect(url, served.api_key)
            assert (await aclient.chat(prompt, max_tokens=4))["role"] == "assistant"
            await aclient.stop()
        seen = b"".join(proxy_env)
        assert served.api_key.encode() not in seen and prompt.encode() not in seen
    assert proxy_env == []
