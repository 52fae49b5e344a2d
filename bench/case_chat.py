"""Chat overhead: ``model.chat()`` against the same request over http.client.

Both send the same body (tiny model, ``max_tokens=8``, temperature 0, a fixed
seed) with the same ``Authorization`` header to the same server, alternately;
the baseline reuses one kept-alive connection. The ratio of the medians is
what the SDK adds to a short request: JSON, option checks, requests' session.
"""

from __future__ import annotations

import time
from typing import Any

from ramalama_sdk import RamalamaModel

from . import rawhttp
from .results import Row, ratio_row
from .stack import HOST
from .stats import interleave, summarize

PROMPT = "Hello"
OPTIONS: dict[str, Any] = {"temperature": 0, "max_tokens": 8, "seed": 42}
TARGET = 1.05


def measure(model: RamalamaModel, rounds: int, warmup: int) -> Row:
    assert model.port is not None
    body = rawhttp.chat_body(model.model, PROMPT, **OPTIONS)
    client = rawhttp.KeptAlive(HOST, model.port, model.api_key)

    def sdk() -> float:
        start = time.perf_counter_ns()
        model.chat(PROMPT, **OPTIONS)
        return time.perf_counter_ns() - start

    def raw() -> float:
        start = time.perf_counter_ns()
        client.post_json(rawhttp.CHAT_PATH, body)
        return time.perf_counter_ns() - start

    try:
        interleave(warmup, sdk, raw)
        sdk_ns, raw_ns = interleave(rounds, sdk, raw)
    finally:
        client.close()
    row = ratio_row(
        "chat overhead (median latency)",
        summarize(sdk_ns, "ms", 1e-6),
        summarize(raw_ns, "ms", 1e-6),
        TARGET,
    )
    row.raw = {"sdk_ns": sdk_ns, "baseline_ns": raw_ns}
    return row
