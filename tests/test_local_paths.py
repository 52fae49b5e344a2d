"""A model given as a path (str or Path, absolute or relative) is a local file,
served through file:// with no network lookup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import server_processes
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.store.references import model_reference


def test_paths_become_file_uris(model_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = model_file.as_uri()
    assert model_reference(model_file) == uri
    assert model_reference(str(model_file)) == uri
    monkeypatch.chdir(model_file.parent.parent)
    relative = os.path.join(model_file.parent.name, model_file.name)
    assert model_reference(relative) == uri
    assert model_reference(Path(relative)) == uri
    monkeypatch.chdir(model_file.parent)
    assert model_reference(model_file.name) == uri  # a bare name ending in .gguf


def test_names_that_are_not_files_stay_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tinyllama").write_text("not a model")  # a shortname is no path
    for name in ("tinyllama", "hf://org/repo", "org/repo", "org/repo/file.gguf", "gemma3:1b"):
        assert model_reference(name) == name


@pytest.mark.parametrize("as_path", [True, False], ids=["Path", "str"])
def test_serve_a_relative_path(
    model_file: Path, monkeypatch: pytest.MonkeyPatch, as_path: bool
) -> None:
    monkeypatch.chdir(model_file.parent)
    name = Path(model_file.name) if as_path else f"./{model_file.name}"
    with RamalamaModel(model=name, max_tokens=4) as model:
        assert model.model == model_file.as_uri()
        assert model.chat("Hello")["role"] == "assistant"
    assert server_processes() == []


async def test_async_serve_a_path(model_file: Path) -> None:
    async with AsyncRamalamaModel(model=model_file, max_tokens=4) as model:
        assert (await model.chat("Hello"))["role"] == "assistant"
    assert server_processes() == []
