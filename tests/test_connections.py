"""The pool's connections send a request in one write; the server answers it whole."""

from __future__ import annotations

import json

from ramalama_sdk import RamalamaModel
from ramalama_sdk.http.connections import _OneWrite


class _Recorder:
    """Stands in for the socket only to see the writes: their number is what is tested."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def sendall(self, data: bytes) -> None:
        self.writes.append(bytes(data))


def _writes(method: str, body: bytes | str | None) -> list[bytes]:
    connection = _OneWrite("127.0.0.1", 9)
    recorder = _Recorder()
    connection.sock = recorder
    connection.request(method, "/v1/chat/completions", body, {"X-Key": "k"})
    return recorder.writes


def test_headers_and_body_go_in_one_write() -> None:
    (write,) = _writes("POST", b'{"a": 1}')
    head, _, body = write.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"Content-Length: 8" in head and b"X-Key: k" in head
    assert body == b'{"a": 1}'
    # A str body is encoded by http.client first; still one write.
    assert len(_writes("POST", '{"a": 1}')) == 1


def test_a_request_without_body_is_its_headers() -> None:
    (write,) = _writes("GET", None)
    assert write.startswith(b"GET ") and write.endswith(b"\r\n\r\n")


def test_served_chats_over_the_pool_are_answered(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, max_tokens=4) as model:
        replies = [model.chat("Hello", seed=seed)["content"] for seed in (1, 1, 2)]
        assert replies[0] == replies[1]  # the same request, read whole by the server
        # Kept-alive connections carry one request after the other, any route.
        assert model._transport is not None
        pool = model._transport._pool
        assert pool is not None and pool._idle
        tokens = json.loads(model._call("POST", "/tokenize", b'{"content": "Hello"}', root=True))
        assert tokens["tokens"] == model.tokenize("Hello")
