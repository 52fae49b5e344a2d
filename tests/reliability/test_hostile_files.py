"""Paths that are not what they seem: an image that never ends, a FIFO.

Each is refused before anything is sent, with an error that says what the
path is, and the process stays within its memory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel

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
