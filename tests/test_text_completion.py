"""Text completion for base models, and the warning when one is chatted with."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from ramalama_sdk import AsyncRamalamaModel, NoChatTemplateWarning, RamalamaModel, TextCompletion
from ramalama_sdk.testing import tiny_model

PROMPT = "Once upon a time there was a"


@pytest.fixture(scope="module")
def base_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny model without a chat template, as a base model is."""
    directory = tmp_path_factory.mktemp("base")
    return tiny_model(directory / "tiny-base.gguf", chat_template=False).as_uri()


@pytest.fixture(scope="module")
def base(base_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=base_uri, max_tokens=8) as served:
        yield served


def test_complete_text(base: RamalamaModel) -> None:
    result = base.complete_text(PROMPT, max_tokens=6, temperature=0, seed=1)
    assert isinstance(result, TextCompletion) and isinstance(result.text, str)
    assert result.finish_reason in ("stop", "length")
    assert 1 <= result.usage.completion_tokens <= 6
    assert result.usage.prompt_tokens == base.count_tokens(PROMPT)
    assert result.tokens_per_second is None or result.tokens_per_second > 0
    again = base.complete_text(PROMPT, max_tokens=6, temperature=0, seed=1)
    assert again.text == result.text  # greedy: the same continuation
    with pytest.raises(ValueError):
        base.complete_text("")
    with pytest.raises(TypeError, match="unknown option"):
        base.complete_text(PROMPT, temprature=0)  # type: ignore[call-arg]


def test_stream_text(base: RamalamaModel) -> None:
    stream = base.stream_text(PROMPT, max_tokens=6, temperature=0, seed=1)
    deltas = list(stream)
    result = stream.result()
    assert "".join(deltas) == result.text
    assert result.text == base.complete_text(PROMPT, max_tokens=6, temperature=0, seed=1).text
    assert result.finish_reason in ("stop", "length")
    assert result.usage.completion_tokens >= 1


def test_chat_on_a_model_without_template_warns(base: RamalamaModel, model_uri: str) -> None:
    assert base.info().has_chat_template is False
    with pytest.warns(NoChatTemplateWarning, match="complete_text") as record:
        base.chat("Hello")
    assert record[0].filename == __file__  # the warning points at the caller
    with pytest.warns(NoChatTemplateWarning) as record:
        "".join(base.stream("Hello"))
    assert record[0].filename == __file__
    with RamalamaModel(model=model_uri, max_tokens=4) as templated, warnings.catch_warnings():
        warnings.simplefilter("error")  # a model with a template: no warning
        templated.chat("Hello")
        "".join(templated.stream("Hello"))


async def test_async_text_completion(base_uri: str, base: RamalamaModel) -> None:
    async with AsyncRamalamaModel(model=base_uri, max_tokens=8) as served:
        result = await served.complete_text(PROMPT, max_tokens=6, temperature=0, seed=1)
        assert result.text == base.complete_text(PROMPT, max_tokens=6, temperature=0, seed=1).text
        stream = served.stream_text(PROMPT, max_tokens=6, temperature=0, seed=1)
        deltas = [delta async for delta in stream]
        assert "".join(deltas) == stream.result().text == result.text
        with pytest.warns(NoChatTemplateWarning):
            await served.chat("Hello")
        assert (await served.info()).has_chat_template is False


def test_base_fixture_file_differs_only_in_template(tmp_path: Path) -> None:
    with_template = tiny_model(tmp_path / "a.gguf")
    without = tiny_model(tmp_path / "b.gguf", chat_template=False)
    assert without.stat().st_size < with_template.stat().st_size
    assert tiny_model(tmp_path / "c.gguf").read_bytes() == with_template.read_bytes()
