"""What the network can see of a served model: loopback only, and a key."""

from __future__ import annotations

import psutil
import requests

from ramalama_sdk import RamalamaModel


def _listening(model: RamalamaModel) -> list[tuple[str, int]]:
    server = model._server
    assert server is not None and server.popen is not None
    procs = [psutil.Process(server.popen.pid), *psutil.Process(server.popen.pid).children(True)]
    return [
        (conn.laddr.ip, conn.laddr.port)
        for proc in procs
        for conn in proc.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]


def test_loopback_only_by_default(model_uri: str) -> None:
    with RamalamaModel(model=model_uri) as model:
        assert _listening(model) == [("127.0.0.1", model.port)]


def test_other_hosts_only_when_asked(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, host="0.0.0.0") as model:
        assert _listening(model) == [("0.0.0.0", model.port)]
        assert model.chat("Hi", max_tokens=2)["role"] == "assistant"


def test_without_the_key_nothing_but_health(model_uri: str) -> None:
    with RamalamaModel(model=model_uri) as model:
        base = model.base_url
        assert base is not None
        root = base.removesuffix("/v1")
        assert requests.get(root + "/health", timeout=10).status_code == 200
        for method, path in [
            ("POST", "/v1/chat/completions"),
            ("POST", "/completion"),
            ("POST", "/v1/embeddings"),
            ("GET", "/slots"),
            ("GET", "/props"),
        ]:
            status = requests.request(method, root + path, json={}, timeout=10).status_code
            assert status == 401, (path, status)
