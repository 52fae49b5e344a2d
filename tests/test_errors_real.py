"""Failures through the real ramalama CLI: each says what went wrong, nothing is left running."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil
import pytest

from conftest import server_processes
from ramalama_sdk import (
    APIError,
    AsyncRamalamaModel,
    ModelNotFoundError,
    RamalamaError,
    RamalamaModel,
    RamalamaNotInstalledError,
    ServerStartError,
    ServerTimeoutError,
)
from ramalama_sdk.process import engine
from ramalama_sdk.process.supervisor import free_port as real_free_port


def test_missing_file_on_download(tmp_path: Path) -> None:
    uri = (tmp_path / "nope.gguf").as_uri()
    with pytest.raises(ModelNotFoundError) as info:
        RamalamaModel(model=uri).download()
    assert uri in str(info.value)
    assert "No such file" in str(info.value)
    assert info.value.exit_code == 2
    assert isinstance(info.value, LookupError)


def test_missing_file_on_serve_without_download(tmp_path: Path) -> None:
    uri = (tmp_path / "nope.gguf").as_uri()
    with pytest.raises(ModelNotFoundError):
        RamalamaModel(model=uri).serve()
    assert server_processes() == []


def test_unknown_model_name_offline() -> None:
    with pytest.raises(RamalamaError) as info:
        RamalamaModel(model="hf://no-such-org/no-such-model-gguf").download()
    assert "no-such-org/no-such-model-gguf" in str(info.value)


@pytest.mark.parametrize("name", ["--help", "-x", "a b; touch pwned", "../..", "$(touch pwned)"])
def test_hostile_model_names_stay_one_argument(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RamalamaError) as info:
        RamalamaModel(model=name).download()
    assert name in str(info.value)
    assert not (tmp_path / "pwned").exists()


def test_corrupt_gguf(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"this is not a gguf file" * 100)
    model = RamalamaModel(model=bad.as_uri())
    with pytest.raises(ServerStartError) as info, model:
        pass
    message = str(info.value)
    assert "corrupt" in message and "GGUF" in message
    assert info.value.exit_code == 1
    assert any("GGUF" in line for line in info.value.log_tail)
    assert not model.is_running
    assert server_processes() == []


def test_truncated_gguf(model_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "truncated.gguf"
    cut.write_bytes(model_file.read_bytes()[: model_file.stat().st_size // 2])
    with (
        pytest.raises(ServerStartError, match="corrupt, truncated"),
        RamalamaModel(model=cut.as_uri()),
    ):
        pass
    assert server_processes() == []


def test_port_taken(model_uri: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"port {port} is already in use"):
            RamalamaModel(model=model_uri, port=port).serve()
    assert server_processes() == []


def test_bind_race_is_retried_on_another_port(
    model_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A port that was free when chosen but taken before the server binds it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        handed: list[int] = []

        def racy_free_port(host: str) -> int:
            handed.append(busy if not handed else real_free_port(host))
            return handed[-1]

        monkeypatch.setattr("ramalama_sdk.process.server.free_port", racy_free_port)
        with RamalamaModel(model=model_uri, max_tokens=4) as model:
            assert handed[0] == busy
            assert model.port == handed[-1] != busy
            assert model.chat("Hello")["role"] == "assistant"
    assert server_processes() == []


def test_no_llama_server_on_path(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PATH with ramalama and python, but no llama-server.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ramalama").symlink_to(engine.find_ramalama())
    empty_scripts = tmp_path / "scripts"
    empty_scripts.mkdir()
    monkeypatch.setattr(engine, "_scripts_dir", lambda: str(empty_scripts))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    with pytest.raises(ServerStartError, match="'llama-server' command is not installed") as info:
        RamalamaModel(model=model_uri).serve()
    assert info.value.exit_code == 38
    assert server_processes() == []


def test_ramalama_not_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_scripts_dir", lambda: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RamalamaNotInstalledError, match="pip install ramalama"):
        RamalamaModel(model="tinyllama").download()
    with pytest.raises(FileNotFoundError):
        RamalamaModel(model="tinyllama").serve()


def test_prompt_longer_than_the_context(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, ctx_size=256, max_tokens=4) as model:
        with pytest.raises(APIError) as info:
            model.chat("word " * 2000)
        assert info.value.status == 400
        assert "exceed" in str(info.value) or "context" in str(info.value)
        # The server survives a refused request.
        assert model.chat("Hello")["role"] == "assistant"


def test_readiness_timeout_stops_the_server(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A llama-server that never answers and ignores SIGTERM (a sleeping stand-in):
    the timeout fires, and stop() ends it all the same."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "pid"
    fake = bin_dir / "llama-server"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\ntrap '' TERM\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    model = RamalamaModel(model=model_uri, timeout=1.5)
    with pytest.raises(ServerTimeoutError) as info:
        model.serve()
    assert isinstance(info.value, TimeoutError)
    assert "1.5 s" in str(info.value)
    assert not model.is_running
    stand_in = int(pid_file.read_text())
    assert not psutil.pid_exists(stand_in) or psutil.Process(stand_in).status() == "zombie"
    assert server_processes() == []


async def test_async_errors_match_the_sync_ones(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.gguf"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(ServerStartError, match="corrupt"):
        async with AsyncRamalamaModel(model=bad.as_uri()):
            pass
    with pytest.raises(ModelNotFoundError):
        await AsyncRamalamaModel(model=(tmp_path / "nope.gguf").as_uri()).download()
    assert server_processes() == []
