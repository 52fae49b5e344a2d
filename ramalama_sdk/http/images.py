"""Images for vision models, as OpenAI ``image_url`` content parts. Pure.

Every image the caller gives (a file path, bytes, a PIL image) is sent inline
as a base64 ``data:`` URI, so nothing depends on the server seeing the
caller's files (in a container or on another machine it cannot); ``http(s)``
and ``data:`` URLs are passed as they are.

    >>> message = user_message("What is this?", [b"\\x89PNG\\r\\n\\x1a\\n..."])
    >>> message["content"][1]["image_url"]["url"][:30]
    'data:image/png;base64,iVBORw0K'
"""

from __future__ import annotations

import base64
import io
import os
import stat
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypedDict, Union

from ..types import ChatMessage
from .text import check_unicode


class ImageURL(TypedDict):
    url: str


class TextPart(TypedDict):
    """``{"type": "text", "text": "..."}``"""

    type: Literal["text"]
    text: str


class ImagePart(TypedDict):
    """``{"type": "image_url", "image_url": {"url": "data:image/png;base64,..."}}``"""

    type: Literal["image_url"]
    image_url: ImageURL


ContentPart = TextPart | ImagePart
"""One part of a message whose content is a list (OpenAI's content parts)."""

ImageInput = Union[str, "os.PathLike[str]", bytes, Any]
"""A path, the bytes of an image file, an http(s)/data URL, or a PIL image."""

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_URL_PREFIXES = ("http://", "https://", "data:")
MAX_IMAGE_BYTES = 64 * 1024 * 1024


def image_type(data: bytes) -> str | None:
    """The MIME type of an image file's bytes, from its signature.

    >>> image_type(b"\\xff\\xd8\\xff\\xe0rest"), image_type(b"text")
    ('image/jpeg', None)
    """
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    for signature, mime in _SIGNATURES:
        if data.startswith(signature):
            return mime
    return None


def data_uri(data: bytes, where: str = "image") -> str:
    """``data:MIME;base64,...`` for the bytes of an image file, checked."""
    mime = image_type(data)
    if mime is None:
        raise ValueError(f"{where} is not a PNG, JPEG, GIF, WebP or BMP image")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_url(image: object, where: str = "image") -> str:
    """The URL that carries ``image`` to the server (read and checked here)."""
    if isinstance(image, str) and image.startswith(_URL_PREFIXES):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return data_uri(bytes(image), where)
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        return data_uri(read_image_file(path, where), f"{where} ({path!r})")
    if _is_pil_image(image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")  # type: ignore[attr-defined]
        return data_uri(buffer.getvalue(), where)
    raise TypeError(
        f"{where} must be a path, bytes, an http(s)/data URL or a PIL image, "
        f"not {type(image).__name__}"
    )


def read_image_file(path: str | bytes, where: str = "image") -> bytes:
    """The bytes of a regular file of at most ``MAX_IMAGE_BYTES``.

    The limit holds while reading (a file that grows, ``/dev/zero``), and
    what is not a regular file (a FIFO, a device, a directory) is refused
    without reading it: opening does not wait for a FIFO's writer.
    """
    shown = os.fsdecode(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise FileNotFoundError(f"{where}: cannot read {shown!r}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        try:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ValueError(f"{where} ({shown!r}) is not a regular file")
            data = file.read(MAX_IMAGE_BYTES + 1)
        except OSError as exc:
            raise FileNotFoundError(f"{where}: cannot read {shown!r}: {exc.strerror}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{where} ({shown!r}) is larger than {MAX_IMAGE_BYTES} bytes")
    return data


def _is_pil_image(value: object) -> bool:
    return type(value).__module__.startswith("PIL.") and callable(getattr(value, "save", None))


def check_images(images: object) -> list[str]:
    """The URLs of a non-empty list of images, each read and checked."""
    if isinstance(images, (str, bytes, os.PathLike)) or _is_pil_image(images):
        raise TypeError("images must be a list, e.g. images=['photo.png']")
    if not isinstance(images, Sequence) or not images:
        raise TypeError("images must be a non-empty list of images")
    return [image_url(image, f"images[{i}]") for i, image in enumerate(images)]


def user_message(text: str, images: object) -> ChatMessage:
    """A user message whose content is the text, then the images."""
    parts: list[ContentPart] = [TextPart(type="text", text=text)]
    parts += [ImagePart(type="image_url", image_url=ImageURL(url=u)) for u in check_images(images)]
    return {"role": "user", "content": parts}  # type: ignore[typeddict-item]


def check_parts(content: Sequence[object], where: str) -> list[ContentPart]:
    """A copy of a content-part list, each part checked.

    >>> check_parts([{"type": "text", "text": "Hi"}], "content")
    [{'type': 'text', 'text': 'Hi'}]
    >>> check_parts([{"type": "audio"}], "content")
    Traceback (most recent call last):
    ...
    ValueError: content[0] has an unknown type 'audio' (use 'text' or 'image_url')
    """
    checked: list[ContentPart] = []
    for index, part in enumerate(content):
        at = f"{where}[{index}]"
        if not isinstance(part, Mapping):
            raise TypeError(f"{at} must be a dict, not {type(part).__name__}")
        kind = part.get("type")
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise TypeError(f"{at}['text'] must be a str")
            check_unicode(text, f"{at}['text']")
            checked.append(TextPart(type="text", text=text))
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, Mapping) else url
            if not isinstance(url, str) or not url:
                raise TypeError(f"{at}['image_url'] must be {{'url': '...'}}")
            checked.append(ImagePart(type="image_url", image_url=ImageURL(url=url)))
        else:
            raise ValueError(f"{at} has an unknown type {kind!r} (use 'text' or 'image_url')")
    if not checked:
        raise ValueError(f"{where} must hold at least one part")
    return checked


def pop_images(options: Mapping[str, object]) -> tuple[object, dict[str, object]]:
    """``images`` taken out of a call's options: (images or None, the rest)."""
    rest = dict(options)
    return rest.pop("images", None), rest


def attach(message: ChatMessage, images: object) -> ChatMessage:
    """The last message of ``complete()`` with the images added; it must be
    the user's."""
    if message["role"] != "user":
        raise ValueError("images go with a user message: the last message is not one")
    content: object = message["content"]
    if isinstance(content, str):
        return user_message(content, images)
    parts: list[object] = list(content) if isinstance(content, list) else []
    parts += [ImagePart(type="image_url", image_url=ImageURL(url=u)) for u in check_images(images)]
    return {"role": "user", "content": parts}  # type: ignore[typeddict-item]


def with_images(
    messages: list[ChatMessage], options: Mapping[str, object]
) -> tuple[list[ChatMessage], dict[str, object]]:
    """``images`` of a call's options joined to its last message (each file
    read once, here); the messages and the options left."""
    pictures, rest = pop_images(options)
    if pictures is not None:
        messages[-1] = attach(messages[-1], pictures)
    return messages, rest
