"""info(), tokens and the context, inspect(): on the real stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ramalama_sdk import (
    APIError,
    AsyncRamalamaModel,
    ContextLengthError,
    ModelDetails,
    ModelNotFoundError,
    RamalamaModel,
    inspect,
)

# What ramalama_sdk.testing.tiny_model writes.
TINY_TRAINING_CONTEXT = 2048
TINY_EMBEDDING_LENGTH = 64
TINY_PARAMETERS = 800 * 64 * 2 + 64 + 2 * (64 * 2 + 4 * 64 * 64 + 3 * 128 * 64)
BOS = 1
CTX = 1024
LONG_TEXT = "the quick brown fox jumps over the lazy dog " * 80  # far over 256 tokens


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, ctx_size=CTX, max_tokens=4) as served:
        yield served


def _tensor_bytes(path: Path) -> int:
    import gguf

    return sum(int(tensor.n_bytes) for tensor in gguf.GGUFReader(path).tensors)


def _check_served_details(details: ModelDetails, model_file: Path, runtime: str) -> None:
    assert details.context_size == CTX  # what the server chose, not the model's 2048
    assert details.training_context == TINY_TRAINING_CONTEXT
    assert details.parameters == TINY_PARAMETERS
    # The weights' bytes, as documented: less than the file, which also holds
    # the vocabulary and metadata (inspect().size is the file's).
    assert details.size == _tensor_bytes(model_file) < model_file.stat().st_size
    assert details.embedding_length == TINY_EMBEDDING_LENGTH
    assert details.vision is False  # no projector loaded
    assert details.supports_tools is False  # the tiny ChatML template knows no tools
    assert details.chat_template is not None and "<|im_start|>" in details.chat_template
    assert details.has_chat_template is True
    assert details.slots is not None and details.slots >= 1
    assert details.runtime == runtime
    assert details.build  # llama-server's build, e.g. "b1234-abcdef"


def test_info_of_a_served_model(model: RamalamaModel, model_file: Path) -> None:
    _check_served_details(model.info(), model_file, "llama.cpp")


def test_info_through_connect_learns_the_runtime(model: RamalamaModel, model_file: Path) -> None:
    assert model.base_url is not None
    remote = RamalamaModel.connect(model.base_url, api_key=model.api_key)
    try:
        details = remote.info()
    finally:
        remote.stop()
    _check_served_details(details, model_file, "llama.cpp")
    assert details.name == model.info().name


def test_tokenize_round_trips(model: RamalamaModel) -> None:
    text = "the world is round, and water is wet"
    tokens = model.tokenize(text)
    assert tokens and all(isinstance(t, int) for t in tokens)
    assert model.detokenize(tokens) == text
    assert model.tokenize(text, add_special=True) == [BOS, *tokens]
    assert model.tokenize("the world") != model.tokenize("the water")


def test_count_tokens_matches_the_servers_usage(model: RamalamaModel) -> None:
    messages: list[Any] = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "How tall is the house?"},
    ]
    counted = model.count_tokens(messages)
    usage = model.complete(messages, max_tokens=1).usage
    assert counted == usage.prompt_tokens and counted > len(model.tokenize("How tall"))
    prompt = "Once upon a time there was a"
    assert (
        model.count_tokens(prompt) == model.complete_text(prompt, max_tokens=1).usage.prompt_tokens
    )
    assert model.count_tokens(prompt) == len(model.tokenize(prompt)) + 1  # the BOS


def test_a_prompt_longer_than_the_context(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, ctx_size=256, max_tokens=4) as small:
        expected = small.count_tokens([{"role": "user", "content": LONG_TEXT}])
        with pytest.raises(ContextLengthError) as caught:
            small.chat(LONG_TEXT)
        error = caught.value
        assert isinstance(error, APIError) and isinstance(error, ValueError)
        assert error.status == 400
        assert error.prompt_tokens == expected and error.limit == 256 == error.context_size
        assert "256 tokens" in str(error) and f"{expected} tokens" in str(error)
        with pytest.raises(ContextLengthError):  # and as a text completion
            small.complete_text(LONG_TEXT)
        with pytest.raises(ContextLengthError):  # and streamed
            "".join(small.stream(LONG_TEXT))
        with pytest.raises(ContextLengthError):
            "".join(small.stream_text(LONG_TEXT))
        assert small.chat("Hi")["role"] == "assistant"  # the server is still fine


def test_bad_token_arguments_fail_before_sending(model: RamalamaModel) -> None:
    with pytest.raises(TypeError):
        model.tokenize(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        model.detokenize("12")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        model.detokenize([1, "2"])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        model.count_tokens([])
    with pytest.raises(ValueError):
        model.count_tokens([{"role": "robot", "content": "hi"}])


async def test_async_info_tokens_and_context(model_uri: str, model_file: Path) -> None:
    async with AsyncRamalamaModel(model=model_uri, ctx_size=CTX, max_tokens=4) as served:
        _check_served_details(await served.info(), model_file, "llama.cpp")
        tokens = await served.tokenize("water and fire")
        assert await served.detokenize(tokens) == "water and fire"
        messages: list[Any] = [{"role": "user", "content": "How tall is the house?"}]
        counted = await served.count_tokens(messages)
        assert counted == (await served.complete(messages, max_tokens=1)).usage.prompt_tokens
        with pytest.raises(ContextLengthError) as caught:
            await served.chat(LONG_TEXT * 3)
        assert caught.value.limit == CTX and caught.value.prompt_tokens is not None
        assert caught.value.prompt_tokens > CTX
        assert served.base_url is not None
        remote = await AsyncRamalamaModel.connect(served.base_url, api_key=served.api_key)
        try:
            assert (await remote.info()).runtime == "llama.cpp"
        finally:
            await remote.stop()


def test_inspect_a_stored_model(model: RamalamaModel, model_uri: str, model_file: Path) -> None:
    details = inspect(model_uri)  # in the store since the fixture pulled it
    served = model.info()
    assert details.training_context == served.training_context == TINY_TRAINING_CONTEXT
    assert details.parameters == served.parameters == TINY_PARAMETERS
    assert details.size == model_file.stat().st_size
    assert details.architecture == "llama" and details.embedding_length == TINY_EMBEDDING_LENGTH
    assert details.has_chat_template is True and "<|im_start|>" in (details.chat_template or "")
    assert details.vision is False  # ramalama stored no projector beside it
    # What only a server knows.
    assert details.context_size is None and details.slots is None and details.build is None


def test_inspect_a_model_that_is_not_in_the_store(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="not in the store"):
        inspect((tmp_path / "never-pulled.gguf").as_uri())
    with pytest.raises(TypeError):
        inspect(3)  # type: ignore[arg-type]
