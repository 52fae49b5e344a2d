"""Image input, end to end on the real server.

The tiny model with the tiny vision projector (``testing.tiny_projector``,
given to llama-server as ``--mmproj``) takes images for real: decoded,
resized, encoded into 4 image tokens. Without the projector the server
refuses images, and the SDK says so with UnsupportedError.
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
from ramalama_sdk.http.images import check_parts, image_url, user_message
from ramalama_sdk.testing import tiny_projector

IMAGE_TOKENS = 4  # the tiny projector: 28x28 pixels in 14x14 patches


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


def test_pil_images_are_encoded_as_png(vision: RamalamaModel) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is not installed here")
    picture = image_module.new("RGB", (3, 3), "red")
    uri = image_url(picture)
    assert uri.startswith("data:image/png;base64,")
    question: list[Any] = [{"role": "user", "content": "What colour?"}]
    text_only = vision.complete(question).usage.prompt_tokens
    assert vision.complete(question, images=[picture]).usage.prompt_tokens == (
        text_only + IMAGE_TOKENS
    )


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


@pytest.fixture(scope="module")
def projector(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_projector(tmp_path_factory.mktemp("vision"))


@pytest.fixture(scope="module")
def vision(model_uri: str, projector: Path) -> Iterator[RamalamaModel]:
    with RamalamaModel(
        model=model_uri, max_tokens=4, temp=0, runtime_args=["--mmproj", str(projector)]
    ) as served:
        yield served


def test_a_vision_model_sees_the_image(vision: RamalamaModel, tmp_path: Path) -> None:
    assert vision.info().vision is True
    question: list[Any] = [{"role": "user", "content": "What is in the picture?"}]
    text_only = vision.complete(question).usage.prompt_tokens
    with_image = vision.complete(question, images=[png()])
    assert with_image.usage.prompt_tokens == text_only + IMAGE_TOKENS
    with_two = vision.complete(question, images=[png(), png(60, 30)])  # any size is resized
    assert with_two.usage.prompt_tokens == text_only + 2 * IMAGE_TOKENS
    path = tmp_path / "grey.png"
    path.write_bytes(png(5, 7))
    reply = vision.chat("What is in the picture?", images=[path])
    assert reply["role"] == "assistant" and isinstance(reply["content"], str)
    stream = vision.stream("And now?", images=[png()])
    assert "".join(stream) == stream.text and stream.usage.prompt_tokens > IMAGE_TOKENS


def test_a_conversation_keeps_its_images(vision: RamalamaModel) -> None:
    chat = vision.conversation()
    chat.say("What is it?", images=[png()])
    first = chat.history[0]
    assert first["role"] == "user" and isinstance(first["content"], list)
    assert first["content"][1]["type"] == "image_url"
    # The next turn sends the image again, with the history.
    history_tokens = vision.complete([*chat.history, {"role": "user", "content": "Sure?"}])
    plain = [{"role": "user", "content": "What is it?"}, chat.history[1]]
    plain_tokens = vision.complete([*plain, {"role": "user", "content": "Sure?"}])
    assert history_tokens.usage.prompt_tokens == plain_tokens.usage.prompt_tokens + IMAGE_TOKENS


async def test_async_vision(model_uri: str, projector: Path) -> None:
    async with AsyncRamalamaModel(
        model=model_uri, max_tokens=4, runtime_args=["--mmproj", str(projector)]
    ) as served:
        assert (await served.info()).vision is True
        question: list[Any] = [{"role": "user", "content": "What is it?"}]
        text_only = (await served.complete(question)).usage.prompt_tokens
        with_image = await served.complete(question, images=[png()])
        assert with_image.usage.prompt_tokens == text_only + IMAGE_TOKENS
        deltas = [d async for d in served.stream("What is it?", images=[png()])]
        assert all(isinstance(d, str) for d in deltas)
        chat = served.conversation()
        await chat.say("What is it?", images=[png()])
        assert isinstance(chat.history[0]["content"], list)
