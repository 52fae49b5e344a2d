"""Waiting has limits: a server that never gets ready, a reply that never comes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from conftest import server_processes
from ramalama_sdk import APITimeoutError, AsyncRamalamaModel, RamalamaModel, ServerTimeoutError


def _sleeping_llama_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in llama-server that starts and never answers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "llama-server"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_never_ready_times_out_and_leaves_nothing(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sleeping_llama_server(tmp_path, monkeypatch)
    model = RamalamaModel(model=model_uri, timeout=2)
    started = time.monotonic()
    with pytest.raises(ServerTimeoutError):
        model.serve()
    assert time.monotonic() - started >= 2
    assert not model.is_running
    assert server_processes() == []


async def test_async_never_ready_times_out(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sleeping_llama_server(tmp_path, monkeypatch)
    with pytest.raises(TimeoutError):
        await AsyncRamalamaModel(model=model_uri, timeout=1).serve()
    assert server_processes() == []


def test_a_request_over_its_timeout_fails_and_the_model_stays_usable(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, request_timeout=0.5) as model:
        with pytest.raises(APITimeoutError) as info:
            model.chat("Go on", max_tokens=200_000)
        assert isinstance(info.value, TimeoutError)
        assert "request_timeout" in str(info.value)
        assert model.is_running
        assert model.chat("Hello", max_tokens=4)["role"] == "assistant"


async def test_async_request_over_its_timeout(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, temp=0, request_timeout=0.5) as model:
        with pytest.raises(APITimeoutError):
            await model.chat("Go on", max_tokens=200_000)
        with pytest.raises(TimeoutError):
            async for _ in model.stream("Go on", max_tokens=200_000):
                pass
        assert (await model.chat("Hello", max_tokens=4))["role"] == "assistant"
