"""Progress reporting and idle sleep on SmolLM2.

- **progress**: the same streamed request with a long prompt (about 1,500
  tokens, ``cache_prompt`` off so that every request processes all of it,
  one token of reply), with a progress callback (llama-server then sends
  ``prompt_progress`` events, which the SDK parses and reports) and
  without, alternately, on one server. Wall time per request.
- **sleep**: a server with ``sleep_after=1``. Each round: a call while it is
  awake (its time, and llama-server's RSS), then wait until it sleeps (its
  RSS asleep), then the same call, which wakes it (its time).
"""

from __future__ import annotations

import time

import psutil

from ramalama_sdk import EngineProgress, RamalamaModel
from ramalama_sdk.progress import ProgressChoice

from . import smollm
from .case_speculation import CODE
from .results import Row, ratio_row
from .stats import interleave, summarize

LONG_PROMPT = "Summarize this code in one line:\n" + CODE * 3
PROGRESS_OPTIONS: dict[str, object] = {"max_tokens": 1, "cache_prompt": False}
PROGRESS_LIMIT = 1.02
SLEEP_OPTIONS: dict[str, object] = {"max_tokens": 8, "temperature": 0, "seed": 42}
MIB = 1024 * 1024


def _not_run(case: str, reason: str) -> Row:
    return Row(case, None, None, "not run", "(reported)", None, note=reason)


def measure_progress(rounds: int, warmup: int) -> Row:
    case = "prompt progress: request with a callback"
    path = smollm.smollm_gguf()
    if path is None:
        return _not_run(case, smollm.INSTALL)
    model = smollm.serve(path)
    events: list[EngineProgress] = []
    per_request: list[int] = []
    messages = [{"role": "user", "content": LONG_PROMPT}]

    def timed(callback: object) -> float:
        # One server for both sides: the model's progress option is switched.
        model._progress = ProgressChoice(callback, auto=False, runtime="llama.cpp")
        events.clear()
        start = time.perf_counter_ns()
        stream = model._stream(model._complete_body(messages, PROGRESS_OPTIONS, stream=True))
        stream._read_all()
        elapsed = time.perf_counter_ns() - start
        if callback is not None:
            per_request.append(len(events))
        return float(elapsed)

    try:
        interleave(warmup, lambda: timed(events.append), lambda: timed(None))
        with_cb, without = interleave(rounds, lambda: timed(events.append), lambda: timed(None))
        prompt_tokens = model.complete(messages, **PROGRESS_OPTIONS).usage.prompt_tokens  # type: ignore[arg-type]
    finally:
        model.stop()
    row = ratio_row(
        case,
        summarize(with_cb, "ms", 1e-6),
        summarize(without, "ms", 1e-6),
        PROGRESS_LIMIT,
        pairs=list(zip(with_cb, without, strict=True)),
    )
    row.note = (
        f"{prompt_tokens}-token prompt, {sorted(per_request)[len(per_request) // 2]} progress "
        "events a request (llama-server reports once per batch of 2048 tokens by default)"
    )
    row.raw = {"sdk_ns": with_cb, "baseline_ns": without, "events": per_request}
    return row


def _llama_rss(model: RamalamaModel) -> int:
    server = model._server
    assert server is not None and server.popen is not None
    children = psutil.Process(server.popen.pid).children(recursive=True)
    return sum(p.memory_info().rss for p in children if p.name().startswith("llama-server"))


def _call_ns(model: RamalamaModel) -> float:
    start = time.perf_counter_ns()
    model.chat("Name a colour.", **SLEEP_OPTIONS)  # type: ignore[arg-type]
    return float(time.perf_counter_ns() - start)


def _until_asleep(model: RamalamaModel, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not model.is_sleeping:
        if time.monotonic() >= deadline:
            raise RuntimeError("the server never fell asleep")
        time.sleep(0.02)


def measure_sleep(rounds: int) -> list[Row]:
    path = smollm.smollm_gguf()
    if path is None:
        return [_not_run("idle sleep", smollm.INSTALL)]
    model = smollm.serve(path, sleep_after=1)
    awake_ns: list[float] = []
    wake_ns: list[float] = []
    rss_awake: list[float] = []
    rss_asleep: list[float] = []
    try:
        _call_ns(model)
        for _ in range(rounds):
            awake_ns.append(_call_ns(model))
            rss_awake.append(_llama_rss(model))
            _until_asleep(model)
            rss_asleep.append(_llama_rss(model))
            wake_ns.append(_call_ns(model))
    finally:
        model.stop()
    rss = ratio_row(
        "sleep: llama-server RSS asleep vs awake",
        summarize(rss_asleep, "MiB", 1 / MIB),
        summarize(rss_awake, "MiB", 1 / MIB),
        1.0,
    )
    rss.target, rss.met = "(reported)", None
    rss.raw = {"asleep_bytes": rss_asleep, "awake_bytes": rss_awake}
    wake = ratio_row(
        "sleep: a call that wakes it vs an awake call",
        summarize(wake_ns, "ms", 1e-6),
        summarize(awake_ns, "ms", 1e-6),
        1.0,
        pairs=list(zip(wake_ns, awake_ns, strict=True)),
    )
    wake.target, wake.met = "(reported)", None
    added = (sorted(wake_ns)[len(wake_ns) // 2] - sorted(awake_ns)[len(awake_ns) // 2]) * 1e-6
    wake.note = f"wake-up adds {added:.0f} ms (the model is loaded again)"
    wake.raw = {"wake_ns": wake_ns, "awake_ns": awake_ns}
    return [rss, wake]


def run_alone(rounds: int = 5) -> None:  # pragma: no cover - a manual entry point
    from .report import table
    from .stack import private_stack

    with private_stack():
        print(table([measure_progress(rounds * 4, 2), *measure_sleep(rounds)]))


if __name__ == "__main__":  # pragma: no cover
    run_alone()
