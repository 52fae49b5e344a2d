"""Run every case in one go and print the table: ``python -m bench``.

Each case alternates the SDK's samples with its baseline's, so that the
machine's noise falls on both alike. ``--quick`` takes few samples, to check
that the bench runs; its figures are not worth reporting.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ramalama_sdk import RamalamaModel

from . import (
    case_async,
    case_chat,
    case_engine,
    case_gemma,
    case_import,
    case_lifecycle,
    case_prompt_cache,
    case_speculation,
    case_stream,
)
from .machine import describe
from .published import DEFAULT_PYTHON, PublishedDriver
from .report import table, write_json
from .results import Row, ratio_row
from .stack import Stack, private_stack
from .stats import summarize

STOP_TARGET_MS = 100.0
READY_TARGET = 1.10


@dataclass(frozen=True)
class Counts:
    chat: int
    stream: int
    async_rounds: int
    lifecycle: int
    imports: int
    gemma: int
    warmup: int
    prompts: int = 5
    speculation: int = 5
    progress: int = 8
    sleep: int = 4


FULL = Counts(chat=300, stream=100, async_rounds=120, lifecycle=15, imports=20, gemma=10, warmup=3)
QUICK = Counts(
    chat=20,
    stream=10,
    async_rounds=3,
    lifecycle=3,
    imports=3,
    gemma=2,
    warmup=1,
    prompts=1,
    speculation=1,
    progress=3,
    sleep=1,
)


@contextlib.contextmanager
def published_driver(
    python: Path, stack: Stack, log: IO[bytes]
) -> Iterator[PublishedDriver | None]:
    if not python.exists():
        print(f"(no {python}: the published-SDK cases are skipped)", file=sys.stderr)
        yield None
        return
    driver = PublishedDriver(python, stack.tiny_uri, stack.root / "store-published", log)
    try:
        yield driver
    finally:
        driver.close()


def lifecycle_rows(
    samples: dict[str, case_lifecycle.Samples], chat: Row, published_chat: Row | None
) -> list[Row]:
    sdk, hand, pub = samples["sdk"], samples["hand"], samples["published"]
    ready = ratio_row(
        "time to ready",
        summarize(sdk.ready_ns, "s", 1e-9),
        summarize(hand.ready_ns, "s", 1e-9),
        READY_TARGET,
    )
    ready.raw = {"sdk_ns": sdk.ready_ns, "baseline_ns": hand.ready_ns}
    stop_sdk = summarize(sdk.stop_ns, "ms", 1e-6)
    stop = Row(
        "stop (all processes gone, port free)",
        stop_sdk,
        summarize(hand.stop_ns, "ms", 1e-6),
        f"{stop_sdk.median:.1f} ms",
        f"< {STOP_TARGET_MS:g} ms",
        stop_sdk.median < STOP_TARGET_MS and sdk.unclean == 0,
        note=f"left something behind in {sdk.unclean} of {len(sdk.stop_ns)} stops",
        raw={"sdk_ns": sdk.stop_ns, "baseline_ns": hand.stop_ns},
    )
    rows = [ready, stop]
    if published_chat is None or not pub.ready_ns:
        return rows
    assert chat.value is not None and published_chat.value is not None
    rows.append(published_chat)
    for name, ours, theirs, scale, unit in (
        ("time to ready", sdk.ready_ns, pub.ready_ns, 1e-9, "s"),
        ("stop", sdk.stop_ns, pub.stop_ns, 1e-6, "ms"),
    ):
        row = ratio_row(
            f"vs 0.1.6: {name}", summarize(ours, unit, scale), summarize(theirs, unit, scale), 1.0
        )
        row.target = "(reported)"
        row.met = None
        row.raw = {"sdk_ns": ours, "published_ns": theirs}
        if name == "stop":
            row.note = f"0.1.6 left something behind in {pub.unclean} of {len(pub.stop_ns)} stops"
        rows.append(row)
    overhead = chat.value / published_chat.value
    rows.append(
        Row(
            "vs 0.1.6: chat overhead ratio",
            None,
            None,
            f"{chat.value:.3f} vs {published_chat.value:.3f} = {overhead:.3f}x",
            "(reported)",
            None,
            value=overhead,
        )
    )
    return rows


def published_chat_row(driver: PublishedDriver, counts: Counts) -> Row:
    answer = driver.call(cmd="chat", rounds=counts.chat, warmup=counts.warmup * 5)
    row = ratio_row(
        f"{driver.version}: chat overhead",
        summarize(answer["sdk_ns"], "ms", 1e-6),
        summarize(answer["baseline_ns"], "ms", 1e-6),
        case_chat.TARGET,
    )
    row.target, row.met = "(reported)", None
    row.raw = {"sdk_ns": answer["sdk_ns"], "baseline_ns": answer["baseline_ns"]}
    return row


def smollm_rows(counts: Counts) -> list[Row]:
    """The engine's levers on SmolLM2: speculation, progress, sleep."""
    print("smollm2: speculation ...", file=sys.stderr)
    rows = case_speculation.measure(counts.speculation, 1)
    print(table(rows), file=sys.stderr)  # each case's figures as soon as they are in
    print("smollm2: progress ...", file=sys.stderr)
    rows.append(case_engine.measure_progress(counts.progress, counts.warmup))
    print(table(rows[-1:]), file=sys.stderr)
    print("smollm2: sleep ...", file=sys.stderr)
    return rows + case_engine.measure_sleep(counts.sleep)


def run(
    counts: Counts, published_python: Path, gemma: bool, log: IO[bytes], smollm: bool = True
) -> tuple[dict[str, str | int], list[Row]]:
    rows: list[Row] = []
    with private_stack() as stack:
        machine = describe(stack.bin_dir)
        print("import ...", file=sys.stderr)
        rows.append(case_import.measure(counts.imports, counts.warmup))
        model = RamalamaModel(model=stack.tiny_uri, container=False, temp=0)
        model.download(progress=None)
        model.serve()
        try:
            assert model._server is not None
            argv = list(model._server.argv)
            print("chat ...", file=sys.stderr)
            chat = case_chat.measure(model, counts.chat, counts.warmup * 10)
            print("stream ...", file=sys.stderr)
            stream = case_stream.measure(model, counts.stream, counts.warmup * 3)
        finally:
            model.stop()
        rows += [chat, stream]
        print("async ...", file=sys.stderr)
        rows.append(case_async.measure(stack.tiny_uri, counts.async_rounds, counts.warmup))
        with published_driver(published_python, stack, log) as driver:
            print("serve/stop ...", file=sys.stderr)
            samples = case_lifecycle.run(
                model, argv, driver, counts.lifecycle, max(1, counts.warmup // 2), log
            )
            pub_chat = None
            if driver is not None:
                print("published chat ...", file=sys.stderr)
                pub_chat = published_chat_row(driver, counts)
        rows += lifecycle_rows(samples, chat, pub_chat)
        if gemma:
            print("gemma ...", file=sys.stderr)
            rows.append(case_gemma.measure(stack.root, counts.gemma, 1))
        if smollm:
            rows.append(case_prompt_cache.slot_pinning(stack.tiny_uri))
            for container in (False, True):
                print(f"prompt cache ({'container' if container else 'host'}) ...", file=sys.stderr)
                rows += case_prompt_cache.measure(counts.prompts, container=container)
            rows += smollm_rows(counts)
    return machine, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few samples: a smoke run")
    parser.add_argument("--no-gemma", action="store_true", help="skip the Gemma case")
    parser.add_argument("--no-smollm", action="store_true", help="skip the SmolLM2 cases")
    parser.add_argument("--only-smollm", action="store_true", help="run the SmolLM2 cases only")
    parser.add_argument(
        "--output", type=Path, default=Path(__file__).with_name("results") / "latest.json"
    )
    parser.add_argument("--published-python", type=Path, default=DEFAULT_PYTHON)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output.with_suffix(".log"), "wb") as log:
        counts = QUICK if args.quick else FULL
        if args.only_smollm:
            with private_stack() as stack:
                machine, rows = describe(stack.bin_dir), smollm_rows(counts)
        else:
            machine, rows = run(
                counts, args.published_python, not args.no_gemma, log, not args.no_smollm
            )
    write_json(args.output, machine, rows)
    print(", ".join(f"{key}: {value}" for key, value in machine.items()))
    print(table(rows))
    print(f"raw figures: {args.output}")
    missed = [row.case for row in rows if row.met is False]
    print("targets missed: " + (", ".join(missed) if missed else "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
