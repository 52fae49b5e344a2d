"""Runs inside bench/.venv-published: drives the published ramalama-sdk 0.1.6.

Started by bench/published.py with that venv's python; reads one JSON
command per line on stdin and answers one JSON line on stdout:

- ``{"cmd": "cycle"}``: one ``serve()`` and ``stop()`` of a fresh model;
  answers ``ready_ns``, ``stop_ns`` and ``clean`` (the port is free again).
- ``{"cmd": "chat", "rounds": N, "warmup": W}``: serves, then alternates
  ``model.chat()`` with the same request over one kept-alive http.client
  connection; answers ``sdk_ns`` and ``baseline_ns``.

0.1.6 starts llama-server itself (no ramalama process), lets it write to
this process's stdout, sends no API key, turns ``temp=0`` into 0.8 and sends
``max_tokens`` as ``max_completion_tokens``; the baseline sends what it
sends. Usage: ``python published_driver.py MODEL_URI``.
"""

from __future__ import annotations

import http.client
import importlib
import json
import os
import socket
import sys
import time
from typing import Any, TextIO

# 0.1.6 with temp=0 would serve at 0.8; a tiny temperature is greedy in effect.
TEMP = 1e-4
MAX_TOKENS = 8
PROMPT = "Hello"


def _protocol_stream() -> TextIO:
    """Keep the real stdout for answers; llama-server's output goes to stderr."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return answers


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _new_model(uri: str) -> Any:
    # The published package, in its own venv: its API is not this checkout's.
    published = importlib.import_module("ramalama_sdk")
    return published.RamalamaModel(
        uri, container=False, temp=TEMP, max_tokens=MAX_TOKENS, threads=2
    )


def cycle(uri: str) -> dict[str, object]:
    model = _new_model(uri)
    start = time.perf_counter_ns()
    model.serve()
    ready = time.perf_counter_ns() - start
    port = model.server_attributes.port
    start = time.perf_counter_ns()
    model.stop()
    stopped = time.perf_counter_ns() - start
    return {"ready_ns": ready, "stop_ns": stopped, "clean": _port_is_free(port)}


def chat(uri: str, rounds: int, warmup: int) -> dict[str, object]:
    model = _new_model(uri)
    model.serve()
    try:
        port = model.server_attributes.port
        body = json.dumps(
            {
                "model": model.model_name,
                "messages": [{"role": "user", "content": PROMPT}],
                "stream": False,
                "temperature": TEMP,
                "max_completion_tokens": MAX_TOKENS,
            }
        ).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": "application/json"}

        def sdk() -> int:
            start = time.perf_counter_ns()
            model.chat(PROMPT)
            return time.perf_counter_ns() - start

        def raw() -> int:
            start = time.perf_counter_ns()
            conn.request("POST", "/v1/chat/completions", body=body, headers=headers)
            response = conn.getresponse()
            json.loads(response.read())
            return time.perf_counter_ns() - start

        sdk_ns: list[int] = []
        raw_ns: list[int] = []
        for i in range(warmup + rounds):
            if i % 2 == 0:
                taken, base = sdk(), raw()
            else:
                base, taken = raw(), sdk()
            if i >= warmup:
                sdk_ns.append(taken)
                raw_ns.append(base)
        conn.close()
        return {"sdk_ns": sdk_ns, "baseline_ns": raw_ns}
    finally:
        model.stop()


def main() -> None:
    uri = sys.argv[1]
    answers = _protocol_stream()
    from importlib.metadata import version

    answers.write(json.dumps({"ready": True, "version": version("ramalama-sdk")}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "cycle":
            answer = cycle(uri)
        elif command["cmd"] == "chat":
            answer = chat(uri, int(command["rounds"]), int(command["warmup"]))
        else:
            break
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
