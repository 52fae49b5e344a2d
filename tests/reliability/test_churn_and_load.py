"""Many servers, many calls: nothing leaks, nothing collides, nothing fails."""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from conftest import server_processes
from ramalama_sdk import AsyncRamalamaModel, ChatMessage, RamalamaModel

CYCLES = 50
PARALLEL_MODELS = 6


def _sdk_temp_files() -> set[str]:
    return {n for n in os.listdir(tempfile.gettempdir()) if n.startswith("ramalama-sdk-")}


def _snapshot() -> tuple[int, int, set[str]]:
    gc.collect()
    me = psutil.Process()
    return me.num_fds(), threading.active_count(), _sdk_temp_files()


def test_serve_stop_churn_leaks_nothing(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A temp dir of this test's own: other programs' files cannot come and go in it.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    model = RamalamaModel(model=model_uri, max_tokens=2)
    with model:  # warm-up: the first serve starts the spawner thread, once
        model.chat("Hi")
    fds, threads, temp_files = _snapshot()
    for cycle in range(CYCLES):
        model.serve()
        if cycle % 10 == 0:
            assert model.chat("Hi")["role"] == "assistant"
        model.stop()
    assert _snapshot() == (fds, threads, temp_files)
    assert psutil.Process().children(recursive=True) == []
    assert server_processes() == []


def _assert_ready_on_distinct_ports(models: list[RamalamaModel] | list[AsyncRamalamaModel]) -> None:
    ports = [m.port for m in models]
    assert all(m.is_running for m in models)
    assert len(set(ports)) == len(models), ports


def test_parallel_start_from_threads(model_uri: str) -> None:
    models = [RamalamaModel(model=model_uri, max_tokens=2) for _ in range(PARALLEL_MODELS)]
    try:
        with ThreadPoolExecutor(PARALLEL_MODELS) as pool:
            list(pool.map(lambda m: m.serve(), models))
        _assert_ready_on_distinct_ports(models)
        assert all(m.chat("Hi")["role"] == "assistant" for m in models)
    finally:
        for model in models:
            model.stop()
    assert server_processes() == []


async def test_parallel_start_from_tasks(model_uri: str) -> None:
    models = [AsyncRamalamaModel(model=model_uri, max_tokens=2) for _ in range(PARALLEL_MODELS)]
    try:
        await asyncio.gather(*(m.serve() for m in models))
        _assert_ready_on_distinct_ports(models)
        replies = await asyncio.gather(*(m.chat("Hi") for m in models))
        assert all(r["role"] == "assistant" for r in replies)
    finally:
        await asyncio.gather(*(m.stop() for m in models))
    assert server_processes() == []


def _well_formed(reply: ChatMessage) -> bool:
    return (
        set(reply) == {"role", "content"}
        and reply["role"] == "assistant"
        and isinstance(reply["content"], str)
    )


def test_threads_hammer_one_model(model_uri: str) -> None:
    threads, calls = 8, 25
    with RamalamaModel(model=model_uri, max_tokens=4) as model, ThreadPoolExecutor(threads) as pool:
        replies = list(pool.map(lambda i: model.chat(f"call {i}"), range(threads * calls)))
    assert len(replies) == threads * calls
    assert all(_well_formed(r) for r in replies)


async def test_tasks_hammer_one_model(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=4) as model:
        replies = await asyncio.gather(*(model.chat(f"call {i}") for i in range(64)))
        streamed = await asyncio.gather(*(_stream_text(model, i) for i in range(16)))
    assert len(replies) == 64 and all(_well_formed(r) for r in replies)
    assert len(streamed) == 16


async def _stream_text(model: AsyncRamalamaModel, index: int) -> str:
    return "".join([d async for d in model.stream(f"stream {index}")])
