"""Embeddings and rerank: serve options, request bodies, parsing. Pure.

A model is served for embeddings with ``embedding=True`` (llama-server's
``--embedding``, with a ``pooling`` choice) or for ranking with
``rerank=True`` (``--rerank``, which needs a reranker GGUF: a model with a
classification head). Both reach llama-server through ramalama's
``--runtime-args``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import APIError
from ..http.protocol import json_object, preview
from ..http.text import check_unicode

EMBEDDINGS_PATH = "/embeddings"  # under /v1, as OpenAI clients send it
RERANK_PATH = "/rerank"
POOLINGS = ("none", "mean", "cls", "last", "rank")
DEFAULT_BATCH_SIZE = 32


@dataclass(frozen=True)
class RankedDocument:
    """One document of ``rerank()``: its place in the input, text and score."""

    index: int
    document: str
    score: float


# What a server started with these llama-server flags is for, and the option
# of the SDK that adds each flag.
_SERVED_FOR = {"--embedding": "embed()", "--embeddings": "embed()", "--rerank": "rerank()"}
OPTION = {"embed()": "embedding=True", "rerank()": "rerank=True"}


def served_for(runtime_args: Sequence[str]) -> str | None:
    """``"embed()"`` or ``"rerank()"`` when the server arguments make a
    server for that, not for chat; None otherwise.

    >>> served_for(("--embedding", "--pooling", "mean")), served_for(("--parallel", "2"))
    ('embed()', None)
    """
    for arg in runtime_args:
        if arg in _SERVED_FOR:
            return _SERVED_FOR[arg]
    return None


# llama.cpp's pooling type of a reranker (LLAMA_POOLING_TYPE_RANK), as its
# converter writes it into the GGUF of a model with a classification head.
_RANK_POOLING = 4


def is_reranker(inspect_json: str) -> bool | None:
    """Whether ``ramalama inspect --all --json`` shows a reranker: a GGUF that
    declares rank pooling or carries a classification head (``cls.*``
    tensors). None when the output is not a GGUF's details.

    >>> is_reranker('{"Format": "GGUF", "Metadata": {"data": {"general.architecture": "bert",'
    ...             ' "bert.pooling_type": 4}}, "Tensors": []}')
    True
    >>> is_reranker('{"Format": "GGUF", "Metadata": {"data": {"general.architecture": "llama"}},'
    ...             ' "Tensors": [{"name": "output.weight"}]}')
    False
    """
    try:
        data = json.loads(inspect_json[inspect_json.find("{") :])
        fields = data["Metadata"]["data"]
        tensors = data.get("Tensors") or []
        if data.get("Format") != "GGUF" or not isinstance(fields, Mapping):
            return None
        arch = fields.get("general.architecture")
        names = [t.get("name") for t in tensors if isinstance(t, Mapping)]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if fields.get(f"{arch}.pooling_type") == _RANK_POOLING:
        return True
    return any(isinstance(name, str) and name.startswith("cls.") for name in names)


def serve_args(embedding: object, rerank: object, pooling: object, runtime: str) -> tuple[str, ...]:
    """The llama-server arguments for the embedding options, checked.

    >>> serve_args(True, False, "mean", "llama.cpp")
    ('--embedding', '--pooling', 'mean')
    >>> serve_args(False, True, None, "llama.cpp")
    ('--rerank',)
    >>> serve_args(True, False, None, "vllm")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: embedding=True is for runtime='llama.cpp'; ...
    """
    for name, value in (("embedding", embedding), ("rerank", rerank)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False")
    if pooling is not None and pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {', '.join(POOLINGS)} or None, not {pooling!r}")
    if not (embedding or rerank):
        if pooling is not None:
            raise ValueError("pooling needs embedding=True")
        return ()
    if embedding and rerank:
        raise ValueError("embedding=True and rerank=True exclude each other: choose one")
    if runtime != "llama.cpp":
        which = "embedding" if embedding else "rerank"
        raise ValueError(
            f"{which}=True is for runtime='llama.cpp'; give {runtime}'s own "
            "arguments in runtime_args instead"
        )
    if rerank:
        if pooling not in (None, "rank"):
            raise ValueError("rerank=True ranks with pooling 'rank': leave pooling unset")
        return ("--rerank",)
    return ("--embedding", *(("--pooling", str(pooling)) if pooling else ()))


def check_texts(texts: object, what: str = "texts") -> list[str]:
    """A list of non-empty texts; a single str is a list of one.

    >>> check_texts("hi")
    ['hi']
    >>> check_texts(["a", ""])
    Traceback (most recent call last):
    ...
    ValueError: texts[1] is empty: the server cannot take an empty text
    """
    items = [texts] if isinstance(texts, str) else texts
    if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence):
        raise TypeError(f"{what} must be a str or a list of str, not {type(texts).__name__}")
    if not items:
        raise ValueError(f"{what} must hold at least one text")
    checked: list[str] = []
    for index, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{index}] must be a str, not {type(text).__name__}")
        if not text:
            raise ValueError(f"{what}[{index}] is empty: the server cannot take an empty text")
        check_unicode(text, f"{what}[{index}]")
        checked.append(text)
    return checked


def check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, not {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    return batch_size


def batches(texts: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    """Consecutive slices of at most ``size`` texts, in order.

    >>> [list(b) for b in batches(["a", "b", "c"], 2)]
    [['a', 'b'], ['c']]
    """
    for start in range(0, len(texts), size):
        yield texts[start : start + size]


def embeddings_body(model: str, texts: Sequence[str]) -> bytes:
    """The body of ``POST /v1/embeddings``.

    >>> embeddings_body("m", ["a"])
    b'{"model":"m","input":["a"],"encoding_format":"float"}'
    """
    payload = {"model": model, "input": list(texts), "encoding_format": "float"}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def parse_embeddings(body: bytes | str, expected: int) -> list[list[float]]:
    """The vectors of an OpenAI embeddings answer, in the order of the input.

    >>> parse_embeddings(b'{"data":[{"index":1,"embedding":[3.0]},{"index":0,"embedding":[1]}]}', 2)
    [[1.0], [3.0]]
    """
    data = json_object(body).get("data")
    if not isinstance(data, list) or len(data) != expected:
        raise APIError(f"unexpected embeddings answer: {preview(body)}")
    vectors: list[list[float] | None] = [None] * expected
    for position, item in enumerate(data):
        index = item.get("index", position) if isinstance(item, Mapping) else None
        vector = item.get("embedding") if isinstance(item, Mapping) else None
        if (
            not isinstance(index, int)
            or not 0 <= index < expected
            or not isinstance(vector, list)
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vector)
        ):
            raise APIError(f"unexpected embeddings answer: {preview(body)}")
        vectors[index] = [float(x) for x in vector]
    if any(v is None for v in vectors):
        raise APIError(f"the embeddings answer lacks some inputs: {preview(body)}")
    return [v for v in vectors if v is not None]


def normalized(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero).

    >>> normalized([3.0, 4.0])
    [0.6, 0.8]
    """
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else list(vector)


def as_numpy(vectors: list[list[float]]) -> Any:
    """The vectors as one float32 numpy array, one row per text."""
    try:
        import numpy as np
    except ImportError:
        raise ImportError("numpy=True needs numpy: pip install numpy") from None
    return np.asarray(vectors, dtype=np.float32)


def rerank_body(model: str, query: object, documents: object, top_n: object) -> bytes:
    """The body of ``POST /v1/rerank``, after checking every argument.

    >>> rerank_body("m", "q", ["a", "b"], 1)
    b'{"model":"m","query":"q","documents":["a","b"],"top_n":1}'
    """
    if not isinstance(query, str):
        raise TypeError(f"query must be a str, not {type(query).__name__}")
    if not query:
        raise ValueError("query must not be empty")
    if isinstance(documents, str):
        raise TypeError("documents must be a list of str, not one str")
    docs = check_texts(documents, "documents")
    payload: dict[str, object] = {"model": model, "query": query, "documents": docs}
    if top_n is not None:
        if isinstance(top_n, bool) or not isinstance(top_n, int):
            raise TypeError(f"top_n must be an int or None, not {type(top_n).__name__}")
        if top_n < 1:
            raise ValueError(f"top_n must be >= 1, not {top_n}")
        payload["top_n"] = top_n
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def parse_rerank(
    body: bytes | str, documents: Sequence[str], top_n: int | None
) -> list[RankedDocument]:
    """The ranked documents of a rerank answer, best first, at most ``top_n``.

    >>> ranked = parse_rerank(b'{"results":[{"index":0,"relevance_score":0.1},'
    ...                       b'{"index":1,"relevance_score":0.9}]}', ["a", "b"], None)
    >>> [(r.index, r.document, r.score) for r in ranked]
    [(1, 'b', 0.9), (0, 'a', 0.1)]
    """
    results = json_object(body).get("results")
    if not isinstance(results, list):
        raise APIError(f"unexpected rerank answer: {preview(body)}")
    ranked: list[RankedDocument] = []
    for item in results:
        index = item.get("index") if isinstance(item, Mapping) else None
        score = (
            item.get("relevance_score", item.get("score")) if isinstance(item, Mapping) else None
        )
        if (
            not isinstance(index, int)
            or not 0 <= index < len(documents)
            or isinstance(score, bool)
            or not isinstance(score, (int, float))
        ):
            raise APIError(f"unexpected rerank answer: {preview(body)}")
        ranked.append(RankedDocument(index=index, document=documents[index], score=float(score)))
    ranked.sort(key=lambda r: r.score, reverse=True)  # servers need not sort
    return ranked[:top_n] if top_n is not None else ranked
