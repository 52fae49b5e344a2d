"""Numbers a program hands to the server: seeds, token ids.

Seeds drawn from a wide range (``random.getrandbits(64)``) would wrap at
2**32 on the server and silently repeat; ids from another model's tokenizer
would reach past the vocabulary.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel


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
