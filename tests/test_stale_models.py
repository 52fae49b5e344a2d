"""No stale model: what is served is what the file holds now.

ramalama keys a ``file://`` model by its full path and keeps the copy it
took, so a file rewritten in place, or a test model of another kind written
under the same name, used to be served from the old copy. ``download()`` now
compares the stored copy with the file and copies a changed one again; the
tiny test models get a file name per variant.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.process import engine
from ramalama_sdk.testing import tiny_model

VARIANTS: list[dict[str, object]] = [
    {},
    {"tools": True},
    {"thinking": True},
    {"quantized": True},
    {"chat_template": False},
    {"pooling": "mean"},
    {"pooling": "rank"},
    {"chat_template": False, "pooling": "mean"},
    {"seed": 1},
]


def _stored_digest(uri: str) -> str:
    """The digest of the copy in ramalama's store, as ``ramalama inspect`` finds it."""
    done = subprocess.run(
        [engine.find_ramalama(), "--nocontainer", "inspect", "--json", uri],
        capture_output=True,
        text=True,
        check=True,
    )
    stored = Path(json.loads(done.stdout)["Path"])
    return hashlib.sha256(stored.read_bytes()).hexdigest()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_variant_has_a_file_name_of_its_own(tmp_path: Path) -> None:
    paths = [tiny_model(tmp_path, **variant) for variant in VARIANTS]  # type: ignore[arg-type]
    assert len({p.name for p in paths}) == len(VARIANTS)
    assert len({_digest(p) for p in paths}) == len(VARIANTS)  # and so do their bytes
    assert paths[0].name == "tiny-llama.gguf"


def test_a_base_model_beside_the_chat_model_is_served_as_a_base_model(tmp_path: Path) -> None:
    chat = tiny_model(tmp_path)
    with RamalamaModel(model=chat, max_tokens=4) as model:
        assert model.info().has_chat_template is True
    base = tiny_model(tmp_path, chat_template=False)
    with RamalamaModel(model=base, max_tokens=4) as model:
        assert model.info().has_chat_template is False


def test_a_file_rewritten_in_place_is_copied_again(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "model.gguf")
    with RamalamaModel(model=path, max_tokens=4) as model:
        assert model.info().has_chat_template is True
    tiny_model(path, chat_template=False)  # the same path, other content
    with RamalamaModel(model=path, max_tokens=4) as model:
        assert model.info().has_chat_template is False
    assert _stored_digest(path.as_uri()) == _digest(path)


def test_a_change_that_keeps_the_size_is_seen_too(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "same-size.gguf", seed=1)
    model = RamalamaModel(model=path)
    model.download()
    size = path.stat().st_size
    tiny_model(path, seed=2)  # other weights, the same number of bytes
    assert path.stat().st_size == size
    model.download()
    assert _stored_digest(path.as_uri()) == _digest(path)


async def test_async_download_copies_a_changed_file_again(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "async.gguf")
    model = AsyncRamalamaModel(model=path, max_tokens=4)
    await model.download()
    tiny_model(path, chat_template=False)
    async with model:
        assert (await model.info()).has_chat_template is False
    assert _stored_digest(path.as_uri()) == _digest(path)


def test_an_unchanged_file_is_not_copied_and_progress_sees_each_copy(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "watched.gguf")
    size = path.stat().st_size
    seen: list[tuple[int, int | None]] = []
    model = RamalamaModel(model=path)

    def progress(done: int, total: int | None) -> None:
        seen.append((done, total))

    model.download(progress=progress)  # the first copy
    assert seen == [(0, size), (size, size)]
    seen.clear()
    model.download(progress=progress)  # up to date: nothing copied
    assert seen == []
    model.download(force=True, progress=progress)  # copied again, on demand
    assert seen == [(0, size), (size, size)]


def test_the_stored_copy_serves_once_the_file_is_gone(tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "gone.gguf")
    RamalamaModel(model=path).download()
    os.unlink(path)
    with RamalamaModel(model=path.as_uri(), max_tokens=4) as model:
        assert model.chat("Hi")["role"] == "assistant"


@pytest.mark.parametrize("variant", [{"chat_template": False}, {"pooling": "mean"}])
def test_variants_written_to_a_directory_never_meet_in_the_store(
    tmp_path: Path, variant: dict[str, object]
) -> None:
    default = tiny_model(tmp_path)
    RamalamaModel(model=default).download()
    other = tiny_model(tmp_path, **variant)  # type: ignore[arg-type]
    RamalamaModel(model=other).download()
    assert _stored_digest(other.as_uri()) == _digest(other)
    assert _stored_digest(default.as_uri()) == _digest(default)
