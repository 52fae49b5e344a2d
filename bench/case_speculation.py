"""Speculative decoding on SmolLM2: decode speed with and without it.

Three servers of the same model run side by side: without speculation, with
``ngram-simple`` and with ``ngram-mod`` (the engine's n-gram kinds: no second
model). Each round sends the same request to the three, in a rotating order,
at temperature 0; the figure is llama-server's own decode speed
(``predicted_per_second``), and each row is the median of the per-round
ratios against the server without speculation. Two tasks: repeating a piece
of code (an edit or refactor: the reply copies its prompt) and free text.
"""

from __future__ import annotations

from ramalama_sdk import Completion, RamalamaModel

from . import smollm
from .results import Row, ratio_row
from .stats import summarize

KINDS = ("ngram-simple", "ngram-mod")
MAX_TOKENS = 160
CODE = '''def merge_intervals(intervals):
    """Merge overlapping intervals and return them sorted."""
    if not intervals:
        return []
    intervals = sorted(intervals, key=lambda pair: pair[0])
    merged = [list(intervals[0])]
    for start, end in intervals[1:]:
        last = merged[-1]
        if start <= last[1]:
            last[1] = max(last[1], end)
        else:
            merged.append([start, end])
    return [tuple(pair) for pair in merged]


def total_length(intervals):
    """The length covered by the intervals, overlaps counted once."""
    return sum(end - start for start, end in merge_intervals(intervals))
'''
TASKS = {
    "repeat": f"Repeat this code exactly, without any change:\n```python\n{CODE}```",
    "free text": "Write a story about a lighthouse keeper who finds a message in a bottle.",
}
OPTIONS: dict[str, object] = {"temperature": 0, "max_tokens": MAX_TOKENS, "seed": 42}
FREE_TEXT_LIMIT = 0.97  # "never costs more than ~3 %"


def _not_run(reason: str) -> list[Row]:
    return [Row("speculation", None, None, "not run", "(reported)", None, note=reason)]


def _complete(model: RamalamaModel, task: str) -> Completion:
    return model.complete([{"role": "user", "content": TASKS[task]}], **OPTIONS)  # type: ignore[arg-type]


def measure(rounds: int, warmup: int) -> list[Row]:
    path = smollm.smollm_gguf()
    if path is None:
        return _not_run(smollm.INSTALL)
    models: dict[str, RamalamaModel] = {}
    try:
        models["none"] = smollm.serve(path)
        for kind in KINDS:
            models[kind] = smollm.serve(path, speculation=kind)
        return _measure(models, rounds, warmup)
    finally:
        for model in models.values():
            model.stop()


def _measure(models: dict[str, RamalamaModel], rounds: int, warmup: int) -> list[Row]:
    names = list(models)
    rows: list[Row] = []
    for task in TASKS:
        speed: dict[str, list[float]] = {name: [] for name in names}
        acceptance: dict[str, list[float]] = {name: [] for name in names}
        same_text: dict[str, int] = {name: 0 for name in names}
        for i in range(warmup + rounds):
            order = names[i % len(names) :] + names[: i % len(names)]
            replies = {name: _complete(models[name], task) for name in order}
            if i < warmup:
                continue
            for name, reply in replies.items():
                speed[name].append(reply.timings["predicted_per_second"])
                if reply.draft_acceptance is not None:
                    acceptance[name].append(reply.draft_acceptance)
                same_text[name] += reply.content == replies["none"].content
        for kind in KINDS:
            rows.append(_row(task, kind, speed, acceptance[kind], same_text[kind], rounds))
    return rows


def _row(
    task: str,
    kind: str,
    speed: dict[str, list[float]],
    acceptance: list[float],
    same: int,
    rounds: int,
) -> Row:
    repeat = task == "repeat"
    row = ratio_row(
        f"speculation {kind}, {task}: decode tok/s",
        summarize(speed[kind], "tok/s"),
        summarize(speed["none"], "tok/s"),
        1.0 if repeat else FREE_TEXT_LIMIT,
        higher_is_better=True,
        pairs=list(zip(speed[kind], speed["none"], strict=True)),
    )
    if repeat:
        row.target = "> 1x"
        row.met = row.value is not None and row.value > 1.0
    rate = sorted(acceptance)[len(acceptance) // 2] if acceptance else None
    accepted = f"{rate:.0%}" if rate is not None else "none drafted"
    row.note = f"drafts accepted (median): {accepted}; same reply as without: {same}/{rounds}"
    row.raw = {"sdk_tps": speed[kind], "baseline_tps": speed["none"], "acceptance": acceptance}
    return row


def run_alone(rounds: int = 6) -> None:  # pragma: no cover - a manual entry point
    from .report import table
    from .stack import private_stack

    with private_stack():
        print(table(measure(rounds, 1)))


if __name__ == "__main__":  # pragma: no cover
    run_alone()
