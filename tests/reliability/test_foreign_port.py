"""A fixed ``port`` that another program already serves on.

The other server answers ``/health`` like ours would. serve() must not take
it for ours, and this model's key must never reach it.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from conftest import server_processes
from ramalama_sdk import RamalamaModel, ServerStartError
from ramalama_sdk.process import ports


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []  # noqa: RUF012 (one per test, reset below)

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        type(self).seen.append((self.path, self.headers.get("Authorization")))
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def foreign_server() -> Iterator[tuple[int, list[tuple[str, str | None]]]]:
    """Another program's healthy HTTP server on a loopback port."""
    _Recorder.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Recorder.seen
    finally:
        server.shutdown()
        server.server_close()


def test_port_held_by_another_server_is_refused(
    model_uri: str, foreign_server: tuple[int, list[tuple[str, str | None]]]
) -> None:
    port, seen = foreign_server
    model = RamalamaModel(model=model_uri, port=port)
    with pytest.raises(ServerStartError, match=f"port {port} is already in use"):
        model.serve()
    assert not model.is_running
    assert all(auth is None for _, auth in seen)
    assert server_processes() == []


def test_another_server_that_takes_the_port_during_start_is_not_ours(
    model_uri: str,
    foreign_server: tuple[int, list[tuple[str, str | None]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The port was free when checked, and taken before llama-server bound it.

    The race is forced by skipping the check; the foreign server, ramalama
    and llama-server are real.
    """
    port, seen = foreign_server
    monkeypatch.setattr("ramalama_sdk.process.server.port_in_use", lambda host, port: False)
    model = RamalamaModel(model=model_uri, port=port)
    with pytest.raises(ServerStartError, match=f"port {port} is already in use"):
        model.serve()
    assert any(path == "/health" for path, _ in seen)  # it did answer our probe
    assert all(auth is None for _, auth in seen)  # and never saw the key
    assert server_processes() == []


def test_two_models_on_one_port(model_uri: str, free_port: int) -> None:
    with RamalamaModel(model=model_uri, port=free_port, max_tokens=4) as first:
        second = RamalamaModel(model=model_uri, port=free_port)
        with pytest.raises(ServerStartError, match="already in use"):
            second.serve()
        assert first.chat("Hello")["role"] == "assistant"
    assert server_processes() == []


def test_port_in_use_sees_a_listener() -> None:
    with http.server.HTTPServer(("127.0.0.1", 0), _Recorder) as server:
        assert ports.port_in_use("127.0.0.1", server.server_address[1])
    assert not ports.port_in_use("127.0.0.1", server.server_address[1])
