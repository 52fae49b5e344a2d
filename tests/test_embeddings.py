"""Embeddings and rerank on the real stack."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import pytest

from ramalama_sdk import (
    AsyncRamalamaModel,
    ContextLengthError,
    NoChatTemplateWarning,
    NotARerankerWarning,
    RamalamaModel,
    RankedDocument,
    UnsupportedError,
)
from ramalama_sdk.testing import tiny_model

TEXTS = ["the cat sat on the mat", "stock markets fell on Monday", "water is wet"]
DIMENSIONS = 64  # the tiny model's embedding length


@pytest.fixture(scope="module")
def embedder(embedding_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=embedding_uri, embedding=True) as served:
        yield served


@pytest.fixture(scope="module")
def reranker_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny model declaring rank pooling, as reranker GGUFs do."""
    return tiny_model(tmp_path_factory.mktemp("reranker"), pooling="rank").as_uri()


def _norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


def _same(a: list[list[float]], b: list[list[float]]) -> bool:
    """Equal up to float rounding: a batch of other texts sums in another order."""
    return len(a) == len(b) and all(
        len(u) == len(v) and all(abs(x - y) < 1e-4 for x, y in zip(u, v, strict=True))
        for u, v in zip(a, b, strict=True)
    )


def test_embed_gives_one_deterministic_vector_per_text(embedder: RamalamaModel) -> None:
    vectors = embedder.embed(TEXTS)
    assert len(vectors) == len(TEXTS)
    assert all(len(v) == DIMENSIONS and all(isinstance(x, float) for x in v) for v in vectors)
    assert embedder.embed(TEXTS) == vectors  # deterministic
    assert len({tuple(v) for v in vectors}) == len(TEXTS)  # different texts, different vectors
    assert _same(embedder.embed(TEXTS[1]), [vectors[1]])  # a str is a list of one


def test_batches_keep_the_order(embedder: RamalamaModel) -> None:
    texts = [f"{word} number {i}" for i, word in enumerate(["sun", "moon", "star", "sea", "sky"])]
    whole = embedder.embed(texts)
    assert _same(embedder.embed(texts, batch_size=2), whole)
    assert _same(embedder.embed(list(reversed(texts)), batch_size=2), list(reversed(whole)))
    assert not _same(embedder.embed(texts[1:] + texts[:1]), whole)  # order matters


def test_normalised_and_numpy_vectors(embedder: RamalamaModel) -> None:
    import numpy as np

    unit = embedder.embed(TEXTS, normalize=True)
    assert all(abs(_norm(v) - 1.0) < 1e-6 for v in unit)
    array = embedder.embed(TEXTS, normalize=True, numpy=True)
    assert isinstance(array, np.ndarray) and array.shape == (3, DIMENSIONS)
    assert array.dtype == np.float32
    assert np.allclose(array, np.array(unit), atol=1e-6)


def test_an_input_longer_than_the_batch(embedder: RamalamaModel) -> None:
    # Embeddings are pooled over one batch: 512 tokens by default.
    long_text = "water " * 700
    with pytest.raises(ContextLengthError) as caught:
        embedder.embed(["short", long_text])
    error = caught.value
    assert error.limit_kind == "batch" and error.limit == 512
    assert error.prompt_tokens is not None and error.prompt_tokens > 512
    assert error.context_size is None
    assert embedder.embed("short")  # the server is still fine


def test_bad_embed_arguments_fail_before_sending(embedder: RamalamaModel) -> None:
    with pytest.raises(ValueError, match="at least one"):
        embedder.embed([])
    with pytest.raises(ValueError, match="empty"):
        embedder.embed(["a", ""])
    with pytest.raises(TypeError):
        embedder.embed([1, 2])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        embedder.embed("a", batch_size=0)
    with pytest.raises(TypeError):
        embedder.embed("a", normalize="yes")  # type: ignore[call-overload]


def test_serve_options_are_checked_before_anything_runs(model_uri: str) -> None:
    with pytest.raises(TypeError):
        RamalamaModel(model=model_uri, embedding="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pooling"):
        RamalamaModel(model=model_uri, embedding=True, pooling="avg")
    with pytest.raises(ValueError, match="exclude"):
        RamalamaModel(model=model_uri, embedding=True, rerank=True)
    with pytest.raises(ValueError, match="runtime_args"):
        RamalamaModel(model=model_uri, embedding=True, runtime="vllm")
    model = RamalamaModel(
        model=model_uri, embedding=True, pooling="mean", runtime_args=["-b", "64"]
    )
    assert model.options.runtime_args == ("-b", "64", "--embedding", "--pooling", "mean")


def test_embed_on_a_chat_server_says_how_to_serve_it(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, max_tokens=4) as chat_only:
        with pytest.raises(UnsupportedError, match="embedding=True") as caught:
            chat_only.embed("hello")
        assert caught.value.status == 501 and isinstance(caught.value, NotImplementedError)
        with pytest.raises(UnsupportedError, match="rerank=True"):
            chat_only.rerank("q", ["a", "b"])


def test_pooling_choice_changes_the_vectors(embedding_uri: str, embedder: RamalamaModel) -> None:
    with RamalamaModel(model=embedding_uri, embedding=True, pooling="last") as last:
        assert not _same(last.embed(TEXTS), embedder.embed(TEXTS))
        assert len(last.embed("x")[0]) == DIMENSIONS


def test_a_model_that_declares_no_pooling(model_uri: str, embedder: RamalamaModel) -> None:
    with (
        RamalamaModel(model=model_uri, embedding=True) as plain,
        pytest.raises(UnsupportedError, match="pooling='mean'"),
    ):
        plain.embed("x")
    # The same weights, with the pooling given: the vectors of the model that declares it.
    with RamalamaModel(model=model_uri, embedding=True, pooling="mean") as mean:
        assert _same(mean.embed(TEXTS), embedder.embed(TEXTS))


async def test_async_embed(embedding_uri: str, embedder: RamalamaModel) -> None:
    async with AsyncRamalamaModel(model=embedding_uri, embedding=True) as served:
        vectors = await served.embed(TEXTS, batch_size=2)
        assert _same(vectors, embedder.embed(TEXTS))  # same model, same vectors
        unit = await served.embed(TEXTS, normalize=True)
        assert all(abs(_norm(v) - 1.0) < 1e-6 for v in unit)
        with pytest.raises(ContextLengthError):
            await served.embed("water " * 700)
        with pytest.raises(UnsupportedError, match="rerank=True"):
            await served.rerank("q", ["a"])


def test_chat_on_an_embedding_server_is_unsupported(embedder: RamalamaModel) -> None:
    """Refused before anything is sent: no HTTP 500, no base-model warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoChatTemplateWarning)
        for call in (
            lambda: embedder.chat("Hi"),
            lambda: embedder.complete([{"role": "user", "content": "Hi"}]),
            lambda: embedder.stream("Hi"),
            lambda: embedder.conversation().say("Hi"),
        ):
            with pytest.raises(UnsupportedError, match=r"served for embed.*embedding=True"):
                call()
    assert len(embedder.embed("still embeds")) == 1


async def test_async_chat_on_a_rerank_server_is_unsupported(reranker_uri: str) -> None:
    async with AsyncRamalamaModel(model=reranker_uri, rerank=True) as reranker:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NoChatTemplateWarning)
            with pytest.raises(UnsupportedError, match=r"served for rerank.*rerank=True"):
                await reranker.chat("Hi")
            with pytest.raises(UnsupportedError, match="rerank=True"):
                reranker.stream("Hi")
        assert len(await reranker.rerank("q", ["a", "b"])) == 2


def test_rerank_on_a_model_that_is_no_reranker_warns(model_uri: str, reranker_uri: str) -> None:
    with (
        pytest.warns(NotARerankerWarning, match="not a reranker"),
        RamalamaModel(model=model_uri, rerank=True) as served,
    ):
        assert served.is_running  # served all the same: the caller was told
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotARerankerWarning)
        with RamalamaModel(model=reranker_uri, rerank=True) as reranker:
            assert reranker.is_running


async def test_async_rerank_on_a_model_that_is_no_reranker_warns(model_uri: str) -> None:
    with pytest.warns(NotARerankerWarning, match="not a reranker"):
        async with AsyncRamalamaModel(model=model_uri, rerank=True) as served:
            assert served.is_running


# The tiny model has no classification head: llama-server's rank pooling then
# scores with a raw hidden value, so the scores are real but meaningless, and
# only the request, the ordering and the errors can be checked here.
DOCUMENTS = ["the cat sat on the mat", "stock markets fell", "water is wet", "a dog"]


def _check_ranking(ranked: list[RankedDocument], top_n: int | None) -> None:
    assert len(ranked) == (top_n or len(DOCUMENTS))
    assert all(isinstance(r, RankedDocument) and DOCUMENTS[r.index] == r.document for r in ranked)
    assert len({r.index for r in ranked}) == len(ranked)
    scores = [r.score for r in ranked]
    assert scores == sorted(scores, reverse=True) and all(math.isfinite(s) for s in scores)


def test_rerank(reranker_uri: str) -> None:
    with RamalamaModel(model=reranker_uri, rerank=True) as reranker:
        _check_ranking(reranker.rerank("where is the cat?", DOCUMENTS), None)
        _check_ranking(reranker.rerank("where is the cat?", DOCUMENTS, top_n=2), 2)
        with pytest.raises(ValueError):
            reranker.rerank("", DOCUMENTS)
        with pytest.raises(ValueError):
            reranker.rerank("q", [])
        with pytest.raises(ValueError):
            reranker.rerank("q", DOCUMENTS, top_n=0)
        with pytest.raises(TypeError):
            reranker.rerank("q", "one document")
        with pytest.raises(ContextLengthError):
            reranker.rerank("q", ["water " * 700])
        with pytest.raises(UnsupportedError, match="embedding=True"):
            reranker.embed("x")  # a reranker does not embed


async def test_async_rerank(reranker_uri: str) -> None:
    async with AsyncRamalamaModel(model=reranker_uri, rerank=True) as reranker:
        _check_ranking(await reranker.rerank("where is the cat?", DOCUMENTS, top_n=3), 3)
        with pytest.raises(ContextLengthError):
            await reranker.rerank("q", ["water " * 700])
