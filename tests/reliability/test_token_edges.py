"""Numbers a program hands to the server: seeds, token ids, token counts.

Seeds drawn from a wide range (``random.getrandbits(64)``) would wrap at
2**32 on the server and silently repeat; ids from another model's tokenizer
would reach past the vocabulary; a budget computed with ``count_tokens()``
for a chat with images must be the count the server uses.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_images import png

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.testing import tiny_projector


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, max_tokens=8) as served:
        yield served


@pytest.mark.parametrize("seed", [-1, 2**32 - 1, 2**32, 2**32 + 7, 2**64 - 1])
def test_seed_from_a_wide_range_is_refused_not_wrapped(model: RamalamaModel, seed: int) -> None:
    with pytest.raises(ValueError, match="seed"):
        model.chat("Tell me", seed=seed, temperature=1.5)
    with pytest.raises(ValueError, match="seed"):
        model.stream("Tell me", seed=seed)


def test_the_largest_seeds_still_reproduce(model: RamalamaModel) -> None:
    for seed in (0, 2**32 - 2):
        first = model.chat("Tell me", seed=seed, temperature=1.5)["content"]
        assert model.chat("Tell me", seed=seed, temperature=1.5)["content"] == first


async def test_async_seed_range(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=8) as served:
        with pytest.raises(ValueError, match="random seed"):
            await served.chat("Tell me", seed=2**32 - 1)
        assert (await served.chat("Tell me", seed=2**32 - 2))["role"] == "assistant"


def test_detokenize_ids_from_another_tokenizer(model: RamalamaModel) -> None:
    size = model.info().vocabulary_size
    assert size is not None and size > 256
    assert isinstance(model.detokenize([size - 1]), str)
    for ids in ([size], [1, 2, size + 50_000], [2**31]):
        with pytest.raises(ValueError, match="not in the vocabulary"):
            model.detokenize(ids)
    assert model.detokenize(model.tokenize("Hello")) == "Hello"  # the server is unharmed


def test_detokenize_learns_the_vocabulary_once_per_server(model_uri: str) -> None:
    with RamalamaModel(model=model_uri) as served:  # no info() first
        with pytest.raises(ValueError, match="ids go from 0 to"):
            served.detokenize([10**6])
        assert served.detokenize(served.tokenize("Hi")) == "Hi"


async def test_async_detokenize_ids_beyond_the_vocabulary(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri) as served:
        with pytest.raises(ValueError, match="not in the vocabulary"):
            await served.detokenize([10**6])
        assert await served.detokenize(await served.tokenize("Hi")) == "Hi"


@pytest.fixture(scope="module")
def vision(model_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RamalamaModel]:
    projector: Path = tiny_projector(tmp_path_factory.mktemp("vision"))
    with RamalamaModel(
        model=model_uri, max_tokens=4, runtime_args=["--mmproj", str(projector)]
    ) as served:
        yield served


def _image_chat(count: int) -> list[Any]:
    parts: list[dict[str, Any]] = [{"type": "text", "text": "What is in these pictures?"}]
    for index in range(count):
        url = "data:image/png;base64," + base64.b64encode(png(3 + index, 5)).decode()
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": parts}]


@pytest.mark.parametrize("images", [1, 3])
def test_token_budget_of_a_chat_with_images(vision: RamalamaModel, images: int) -> None:
    messages = _image_chat(images)
    counted = vision.count_tokens(messages)
    assert counted == vision.complete(messages).usage.prompt_tokens
    text_only = vision.count_tokens([messages[0], {"role": "user", "content": "x"}])
    assert counted > text_only


async def test_async_token_budget_of_a_chat_with_images(model_uri: str, tmp_path: Path) -> None:
    projector = tiny_projector(tmp_path)
    async with AsyncRamalamaModel(
        model=model_uri, max_tokens=4, runtime_args=["--mmproj", str(projector)]
    ) as served:
        messages = _image_chat(2)
        counted = await served.count_tokens(messages)
        assert counted == (await served.complete(messages)).usage.prompt_tokens
