"""Paths that are not what they seem: an image that never ends, a FIFO, a
model path with a typo or naming a folder.

Each is refused before anything is sent or spawned, with an error that says
what the path is, and the process stays within its memory.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ramalama_sdk import AsyncRamalamaModel, ModelNotFoundError, RamalamaModel
from ramalama_sdk.store.inspection import inspect
from ramalama_sdk.store.management import list_models, remove

HANG_GUARD = 60.0  # seconds: a call still blocked then is hung, not slow


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, max_tokens=4) as served:
        yield served


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "photo.png"
    os.mkfifo(path)
    yield path
    # A reader still blocked in open() (the defect) is released by a writer.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # ENXIO: nobody has it open for reading
        pass


def _returns(call: Callable[[], object]) -> BaseException | None:
    """Run ``call`` in a thread; the exception it raised. Fails if it hangs."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(HANG_GUARD)
    assert not worker.is_alive(), "the call is still blocked"
    return raised[0] if raised else None


def test_image_from_a_device_that_never_ends(model: RamalamaModel) -> None:
    for call in (
        lambda: model.chat("What is it?", images=["/dev/zero"]),
        lambda: model.conversation().say("What is it?", images=[Path("/dev/zero")]),
    ):
        error = _returns(call)
        assert isinstance(error, ValueError) and "not a regular file" in str(error), error
    assert model.chat("Hi")["role"] == "assistant"


def test_image_path_that_is_a_fifo(model: RamalamaModel, fifo: Path) -> None:
    error = _returns(lambda: model.chat("What is it?", images=[fifo]))
    assert isinstance(error, ValueError) and "not a regular file" in str(error), error
    error = _returns(lambda: model.complete([{"role": "user", "content": "x"}], images=[fifo]))
    assert isinstance(error, ValueError), error


async def test_async_image_from_a_device_or_a_fifo(model_uri: str, fifo: Path) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=4) as served:
        for image in ("/dev/zero", str(fifo)):
            with pytest.raises(ValueError, match="not a regular file"):
                await served.chat("What is it?", images=[image])
        assert (await served.chat("Hi"))["role"] == "assistant"


def test_image_file_over_the_limit_is_read_no_further(
    model: RamalamaModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ramalama_sdk.http import images

    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", 1024)  # the 64 MB limit, scaled down
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 2048)
    with pytest.raises(ValueError, match="larger than 1024 bytes"):
        model.chat("What is it?", images=[big])


@pytest.mark.parametrize("typo", ["./models/tiny-lama.gguf", "tiny-lama.gguf", "~/no-such.gguf"])
def test_model_path_with_a_typo(typo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    with pytest.raises(ModelNotFoundError, match="does not exist") as caught:
        RamalamaModel(model=typo)
    assert isinstance(caught.value, LookupError) and typo in str(caught.value)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        AsyncRamalamaModel(model=Path(typo))


def test_model_path_that_is_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    for folder in ("./models", "models/", str(tmp_path / "models"), tmp_path / "models"):
        with pytest.raises(ModelNotFoundError, match="is a directory"):
            RamalamaModel(model=folder)


def test_inspect_and_remove_take_the_paths_models_take(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "inspect-me.gguf"
    shutil.copyfile(model_file, copy)
    monkeypatch.chdir(tmp_path)
    RamalamaModel(model="./inspect-me.gguf").download(progress=None)
    uri = copy.as_uri()
    assert any(info.name == uri for info in list_models())
    for name in ("./inspect-me.gguf", "inspect-me.gguf", copy, str(copy)):
        details = inspect(name)
        assert details.name == uri and details.parameters is not None
    copy.unlink()  # the stored copy is still there, and removed by the same path
    remove(Path("inspect-me.gguf"))
    assert not any(info.name == uri for info in list_models())
    with pytest.raises(ModelNotFoundError):
        remove("./inspect-me.gguf")
    remove("./inspect-me.gguf", ignore=True)
