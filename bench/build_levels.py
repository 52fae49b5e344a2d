"""Prompt and decode speed of llama-server builds, compared in one run.

Not a case of ``make bench``: it needs the builds to compare, which take
10 minutes or more each to compile. Usage::

    python -m bench.build_levels --binary v3=/path/llama-server \\
        --binary v4=/other/llama-server --model smollm2=/path/model.gguf --rounds 7

The first ``--binary`` is the baseline. Each round starts every build once per
model, in an order that rotates from round to round, sends a warm-up request,
then two measured ones: a fixed ~250-token prompt with the prompt cache off
and one token decoded (prompt speed), and a short prompt with 64 tokens
decoded whatever the model wants (decode speed).

Speed is counted in tokens per CPU-second of the server process (its user
plus system time, read from /proc around each request), with one thread by
default: on a machine whose cores are shared with other work, wall-clock
speed measures the share of the CPU the server got, while CPU time measures
the kernels. llama-server's own wall-clock figures are printed beside them.
It prints the median of each build and, for each build, the median of its
per-round ratios to the baseline: a drift of the machine's state during the
run moves both sides of a ratio alike.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

DECODE_TOKENS = 64
_TICKS = os.sysconf("SC_CLK_TCK")
# Plain prose, the same in every run: about 500 tokens for a Llama-style vocabulary.
_SENTENCES = (
    "The river bends twice before it reaches the old mill at the edge of the valley.",
    "Farmers bring their grain there in autumn, and the miller keeps a ledger of every sack.",
    "In winter the wheel freezes, so the village gathers in the hall to repair tools.",
    "Children learn to read from the ledger, counting sacks and names across the pages.",
    "A traveller once asked why the mill was never moved closer to the town square.",
    "The miller answered that water does not walk to people; people walk to water.",
)
PROMPT = " ".join(_SENTENCES * 3) + "\nSummarize the story above in detail:"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: dict[str, object], timeout: float = 600) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        reply: dict[str, object] = json.loads(response.read())
        return reply


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as file:
        fields = file.read().rpartition(b")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


@contextlib.contextmanager
def _server(binary: Path, model: Path, threads: int) -> Iterator[tuple[str, int]]:
    port = _free_port()
    argv = [
        str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--ctx-size", "2048", "--threads", str(threads), "--parallel", "1",
    ]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"{binary} did not start: {log.read()[-2000:]!r}")
                try:
                    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
                        f"{base}/health", timeout=5
                    ) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                time.sleep(0.1)
            yield base, proc.pid
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclasses.dataclass(frozen=True)
class Sample:
    prompt_cpu: float  # prompt tokens per CPU-second
    decode_cpu: float  # decoded tokens per CPU-second
    prompt_wall: float  # llama-server's prompt tokens/s
    decode_wall: float  # llama-server's decode tokens/s
    prompt_tokens: int


def _timed(base: str, pid: int, body: dict[str, object]) -> tuple[float, dict[str, float]]:
    """CPU seconds the server spent on one request, and its own timings."""
    before = _cpu_seconds(pid)
    timings = _post(f"{base}/completion", body)["timings"]
    assert isinstance(timings, dict)
    return _cpu_seconds(pid) - before, timings


def _measure(base: str, pid: int) -> Sample:
    """Prompt and decode speed, per CPU-second and per second of wall clock."""
    cpu_p, prompt = _timed(base, pid, {
        "prompt": PROMPT, "n_predict": 1, "temperature": 0, "cache_prompt": False,
    })  # fmt: skip
    cpu_d, decode = _timed(base, pid, {
        "prompt": "Once upon a time", "n_predict": DECODE_TOKENS, "temperature": 0,
        "cache_prompt": False, "ignore_eos": True,
    })  # fmt: skip
    n_prompt, n_decode = prompt["prompt_n"], decode["predicted_n"]
    return Sample(
        prompt_cpu=n_prompt / max(cpu_p, 1 / _TICKS),
        decode_cpu=n_decode / max(cpu_d, 1 / _TICKS),
        prompt_wall=float(prompt["prompt_per_second"]),
        decode_wall=float(decode["predicted_per_second"]),
        prompt_tokens=int(n_prompt),
    )


def run(
    binaries: dict[str, Path], models: dict[str, Path], rounds: int, threads: int
) -> dict[tuple[str, str], list[Sample]]:
    """Per (model, build), one sample per round."""
    results: dict[tuple[str, str], list[Sample]] = {}
    names = list(binaries)
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for model_name, model in models.items():
            for name in order:
                with _server(binaries[name], model, threads) as (base, pid):
                    _post(f"{base}/completion", {"prompt": "Hello", "n_predict": 8})
                    sample = _measure(base, pid)
                results.setdefault((model_name, name), []).append(sample)
                print(
                    f"round {index + 1} {model_name:8} {name:6} prompt {sample.prompt_cpu:7.1f} "
                    f"tok/CPU-s ({sample.prompt_tokens} tokens; wall {sample.prompt_wall:6.1f}/s)"
                    f"  decode {sample.decode_cpu:6.1f} tok/CPU-s"
                    f" (wall {sample.decode_wall:5.1f}/s)",
                    flush=True,
                )
    return results


def _column(runs: list[Sample], base_runs: list[Sample], field: str) -> str:
    values = [getattr(sample, field) for sample in runs]
    ratios = [getattr(s, field) / getattr(b, field) for s, b in zip(runs, base_runs, strict=True)]
    return (
        f"{statistics.median(values):.0f} ({min(values):.0f}-{max(values):.0f}) "
        f"| {statistics.median(ratios):.3f}x ({min(ratios):.2f}-{max(ratios):.2f})"
    )


def report(results: dict[tuple[str, str], list[Sample]], baseline: str) -> list[str]:
    """One line per (model, build): medians and the median per-round ratio to the baseline."""
    lines = []
    for (model, name), runs in results.items():
        base_runs = results[(model, baseline)]
        lines.append(
            f"| {model} | {name} | {_column(runs, base_runs, 'prompt_cpu')} "
            f"| {_column(runs, base_runs, 'decode_cpu')} "
            f"| {_column(runs, base_runs, 'prompt_wall')} "
            f"| {_column(runs, base_runs, 'decode_wall')} | {len(runs)} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.build_levels", description=__doc__)
    parser.add_argument("--binary", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    binaries = {k: Path(v) for k, _, v in (item.partition("=") for item in args.binary)}
    models = {k: Path(v) for k, _, v in (item.partition("=") for item in args.model)}
    results = run(binaries, models, args.rounds, args.threads)
    print(
        "| model | build | prompt tok/CPU-s (range) | ratio (range) "
        "| decode tok/CPU-s (range) | ratio (range) "
        "| prompt tok/s wall | ratio | decode tok/s wall | ratio | runs |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for line in report(results, next(iter(binaries))):
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
