"""Streaming: time to the first text delta of ``model.stream()`` against a
raw server-sent-events read with http.client.

Both open a new connection per stream (llama-server closes it after a
streamed reply) and send the same body; the target is an absolute
difference, since the first token's time is mostly the server's.
"""

from __future__ import annotations

import time

from ramalama_sdk import RamalamaModel

from . import rawhttp
from .case_chat import OPTIONS, PROMPT
from .results import Row
from .stack import HOST
from .stats import interleave, summarize

TARGET_MS = 2.0


def measure(model: RamalamaModel, rounds: int, warmup: int) -> Row:
    port = model.port
    assert port is not None
    stream_options = {**OPTIONS, "stream": True, "stream_options": {"include_usage": True}}
    body = rawhttp.chat_body(model.model, PROMPT, **stream_options)

    def sdk() -> float:
        start = time.perf_counter_ns()
        deltas = iter(model.stream(PROMPT, **OPTIONS))
        next(deltas)
        elapsed = time.perf_counter_ns() - start
        for _ in deltas:  # the rest of the reply, not timed
            pass
        return elapsed

    def raw() -> float:
        return rawhttp.first_token_ns(HOST, port, model.api_key, body)

    interleave(warmup, sdk, raw)
    sdk_ns, raw_ns = interleave(rounds, sdk, raw)
    sdk_s = summarize(sdk_ns, "ms", 1e-6)
    raw_s = summarize(raw_ns, "ms", 1e-6)
    diff = sdk_s.median - raw_s.median
    return Row(
        "stream: time to first token",
        sdk_s,
        raw_s,
        f"{diff:+.2f} ms",
        f"<= +{TARGET_MS:g} ms",
        diff <= TARGET_MS,
        value=diff,
        raw={"sdk_ns": sdk_ns, "baseline_ns": raw_ns},
    )
