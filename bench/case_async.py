"""Async throughput: 32 concurrent ``await model.chat()`` against 32
concurrent raw aiohttp requests on the same server.

The server gets 32 slots (``runtime_args=["--parallel", "32"]``), so that
every request of a round is generated at once and the client's share of the
time shows. One round's figure is requests per second.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

import aiohttp

from ramalama_sdk import AsyncRamalamaModel

from . import rawhttp
from .case_chat import OPTIONS, PROMPT
from .results import Row, ratio_row
from .stats import summarize

CONCURRENCY = 32
TARGET = 0.95


async def _alternate(
    rounds: int, sdk: Callable[[], Awaitable[float]], raw: Callable[[], Awaitable[float]]
) -> tuple[list[float], list[float]]:
    a: list[float] = []
    b: list[float] = []
    for i in range(rounds):
        if i % 2 == 0:
            a.append(await sdk())
            b.append(await raw())
        else:
            b.append(await raw())
            a.append(await sdk())
    return a, b


async def _measure(uri: str, rounds: int, warmup: int) -> tuple[list[float], list[float], str]:
    model = AsyncRamalamaModel(
        model=uri, container=False, temp=0, runtime_args=["--parallel", str(CONCURRENCY)]
    )
    await model.download(progress=None)
    await model.serve()
    try:
        assert model.base_url is not None
        url = model.base_url + "/chat/completions"
        body = rawhttp.chat_body(model.model, PROMPT, **OPTIONS)
        headers = rawhttp.headers(model.api_key)
        slots = next((line for line in model.logs(200) if "n_slots" in line), "")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

            async def raw_one() -> None:
                async with session.post(url, data=body, headers=headers) as response:
                    data = await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
                    json.loads(data)

            async def sdk_round() -> float:
                start = time.perf_counter_ns()
                await asyncio.gather(*(model.chat(PROMPT, **OPTIONS) for _ in range(CONCURRENCY)))
                return CONCURRENCY / ((time.perf_counter_ns() - start) * 1e-9)

            async def raw_round() -> float:
                start = time.perf_counter_ns()
                await asyncio.gather(*(raw_one() for _ in range(CONCURRENCY)))
                return CONCURRENCY / ((time.perf_counter_ns() - start) * 1e-9)

            await _alternate(warmup, sdk_round, raw_round)
            sdk_rps, raw_rps = await _alternate(rounds, sdk_round, raw_round)
        return sdk_rps, raw_rps, slots
    finally:
        await model.stop()


def measure(uri: str, rounds: int, warmup: int) -> Row:
    sdk_rps, raw_rps, slots = asyncio.run(_measure(uri, rounds, warmup))
    row = ratio_row(
        f"async throughput, {CONCURRENCY} concurrent",
        summarize(sdk_rps, "req/s"),
        summarize(raw_rps, "req/s"),
        TARGET,
        higher_is_better=True,
        pairs=list(zip(sdk_rps, raw_rps, strict=True)),
    )
    row.note = slots.split("load_model: ")[-1].strip()
    row.raw = {"sdk_rps": sdk_rps, "baseline_rps": raw_rps}
    return row
