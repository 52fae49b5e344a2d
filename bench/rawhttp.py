"""The baselines: the same requests as the SDK, with nothing but http.client.

No retries, no checks, no objects beyond what the request needs: the
smallest cost a client can have, to compare the SDK's cost against.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

CHAT_PATH = "/v1/chat/completions"


def headers(api_key: str | None) -> dict[str, str]:
    """What the SDK sends: JSON, and the server's key when it has one."""
    sent = {"Content-Type": "application/json"}
    if api_key is not None:
        sent["Authorization"] = f"Bearer {api_key}"
    return sent


def chat_body(model: str, message: str, **options: object) -> bytes:
    """The JSON body of a chat request, as the SDK builds it."""
    payload: dict[str, object] = {
        "model": model,
        "messages": [{"role": "user", "content": message}],
        **options,
    }
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class KeptAlive:
    """One HTTP/1.1 connection, kept alive across requests."""

    def __init__(self, host: str, port: int, api_key: str | None) -> None:
        self._host = host
        self._port = port
        self._headers = headers(api_key)
        self._conn = http.client.HTTPConnection(host, port, timeout=60)

    def post_json(self, path: str, body: bytes) -> dict[str, Any]:
        """POST ``body`` and decode the JSON reply (reconnect once if the server hung up)."""
        for attempt in (1, 2):
            try:
                self._conn.request("POST", path, body=body, headers=self._headers)
                response = self._conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                self._conn.close()
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
                if attempt == 2:
                    raise
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        reply: dict[str, Any] = json.loads(data)
        return reply

    def close(self) -> None:
        self._conn.close()


def first_token_ns(host: str, port: int, api_key: str | None, body: bytes) -> int:
    """Nanoseconds from sending a streamed chat request to its first text delta.

    A new connection each time, as the SDK does for a stream (llama-server
    closes the connection after a streamed reply). The rest of the stream is
    read, outside the timing, so the server ends each reply the same way.
    """
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        start = time.perf_counter_ns()
        conn.request("POST", CHAT_PATH, body=body, headers=headers(api_key))
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]!r}")
        while True:
            line = response.readline()
            if not line:
                raise RuntimeError("the stream ended before any text")
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            event = json.loads(line[6:])
            choices = event.get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                elapsed = time.perf_counter_ns() - start
                break
        response.read()
        return elapsed
    finally:
        conn.close()


def health_ok(host: str, port: int) -> bool:
    """One ``GET /health`` on a new connection: True once the model is loaded."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
