"""Image input: checked and encoded here, refused clearly by a model without vision.

The tiny test model has no vision projector (mmproj), so the real server's
boundary is what these tests reach: the request shape it accepts (content
parts in the history), and its refusal of images, mapped to UnsupportedError.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel, UnsupportedError
from ramalama_sdk.images import check_parts, image_url, user_message


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG file: a small grey image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, max_tokens=4) as served:
        yield served


def test_images_become_data_uris(tmp_path: Path) -> None:
    data = png()
    uri = image_url(data)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data
    path = tmp_path / "grey.png"
    path.write_bytes(data)
    assert image_url(path) == uri == image_url(str(path))
    assert image_url("https://example.com/cat.jpg") == "https://example.com/cat.jpg"
    message = user_message("What is it?", [path])
    assert message["content"] == [  # type: ignore[comparison-overlap]
        {"type": "text", "text": "What is it?"},
        {"type": "image_url", "image_url": {"url": uri}},
    ]


def test_pil_images_are_encoded_as_png() -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is not installed here")
    uri = image_url(image_module.new("RGB", (3, 3), "red"))
    assert uri.startswith("data:image/png;base64,")


def test_bad_images_fail_before_sending(model: RamalamaModel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a PNG"):
        model.chat("Hi", images=[b"plain text, not an image"])
    with pytest.raises(FileNotFoundError):
        model.chat("Hi", images=[tmp_path / "missing.png"])
    with pytest.raises(TypeError, match="must be a list"):
        model.chat("Hi", images=str(tmp_path / "one.png"))
    with pytest.raises(TypeError):
        model.chat("Hi", images=[3])
    with pytest.raises(ValueError, match="user message"):
        model.complete([{"role": "system", "content": "x"}], images=[png()])
    with pytest.raises(ValueError, match="unknown type"):
        check_parts([{"type": "video"}], "content")


def test_a_model_without_vision_says_so(model: RamalamaModel) -> None:
    assert model.info().vision is False
    picture = png()
    with pytest.raises(UnsupportedError, match="takes no images"):
        model.chat("What is in the picture?", images=[picture])
    with pytest.raises(UnsupportedError, match="takes no images"):
        model.complete([{"role": "user", "content": "Describe it."}], images=[picture])
    with pytest.raises(UnsupportedError, match="takes no images"):
        "".join(model.stream("What is it?", images=[picture]))
    chat = model.conversation()
    with pytest.raises(UnsupportedError):
        chat.say("And this?", images=[picture])
    assert chat.history == []  # the refused exchange left no trace


def test_the_history_takes_content_parts(model: RamalamaModel) -> None:
    history: list[Any] = [
        {"role": "user", "content": [{"type": "text", "text": "Hello there"}]},
        {"role": "assistant", "content": "Hi."},
    ]
    reply = model.chat("And now?", history)
    assert reply["role"] == "assistant" and isinstance(reply["content"], str)
    with_parts = model.count_tokens(history)
    as_text = model.count_tokens(
        [{"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "Hi."}]
    )
    assert with_parts == as_text  # the server read the parts as the same text


async def test_async_image_input(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=4) as served:
        assert (await served.info()).vision is False
        with pytest.raises(UnsupportedError, match="takes no images"):
            await served.chat("What is it?", images=[png()])
        with pytest.raises(UnsupportedError, match="takes no images"):
            async for _ in served.stream("What is it?", images=[png()]):
                pass
        chat = served.conversation()
        with pytest.raises(UnsupportedError):
            await chat.say("And this?", images=[png()])
        with pytest.raises(ValueError, match="not a PNG"):
            await served.chat("Hi", images=[b"nope"])
