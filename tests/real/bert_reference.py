"""The sentence-transformers embedding of all-MiniLM-L6-v2, written out in numpy.

What ``SentenceTransformer("all-MiniLM-L6-v2").encode(text)`` computes, on the
model's own safetensors weights and its own tokenizer (the Hugging Face
``tokenizers`` library reading ``tokenizer.json``): [CLS] text [SEP] through
a BERT encoder (post-layer-norm, exact GELU), the mean of every token's last
hidden state, scaled to length 1. The GGUF converter is checked against it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import load_file
from tokenizers import Tokenizer

Array = npt.NDArray[np.float64]

_erf = np.vectorize(math.erf)


class ReferenceBert:
    """A sentence-transformers BERT model directory, run in float64."""

    def __init__(self, model_dir: Path) -> None:
        self.config: dict[str, Any] = json.loads((model_dir / "config.json").read_text())
        raw = load_file(str(model_dir / "model.safetensors"))
        self.weights = {name.removeprefix("bert."): w.astype(np.float64) for name, w in raw.items()}
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()

    def token_ids(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def embed(self, text: str) -> Array:
        hidden = self._encode(self.token_ids(text))
        pooled: Array = hidden.mean(axis=0)
        return pooled / float(np.linalg.norm(pooled))

    def _w(self, name: str) -> Array:
        return self.weights[name]

    def _dense(self, x: Array, name: str) -> Array:
        return x @ self._w(f"{name}.weight").T + self._w(f"{name}.bias")

    def _norm(self, x: Array, name: str) -> Array:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        eps = float(self.config["layer_norm_eps"])
        scaled: Array = (x - mean) / np.sqrt(var + eps)
        return scaled * self._w(f"{name}.weight") + self._w(f"{name}.bias")

    def _encode(self, ids: list[int]) -> Array:
        n = len(ids)
        x = (
            self._w("embeddings.word_embeddings.weight")[ids]
            + self._w("embeddings.position_embeddings.weight")[:n]
            + self._w("embeddings.token_type_embeddings.weight")[0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        heads = int(self.config["num_attention_heads"])
        size = x.shape[1] // heads
        for i in range(int(self.config["num_hidden_layers"])):
            layer = f"encoder.layer.{i}"

            def split(t: Array) -> Array:
                return t.reshape(n, heads, size).transpose(1, 0, 2)

            q = split(self._dense(x, f"{layer}.attention.self.query"))
            k = split(self._dense(x, f"{layer}.attention.self.key"))
            v = split(self._dense(x, f"{layer}.attention.self.value"))
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, heads * size)
            attended = self._dense(context, f"{layer}.attention.output.dense")
            x = self._norm(x + attended, f"{layer}.attention.output.LayerNorm")
            inner = self._dense(x, f"{layer}.intermediate.dense")
            inner = 0.5 * inner * (1.0 + _erf(inner / math.sqrt(2.0)))
            x = self._norm(
                x + self._dense(inner, f"{layer}.output.dense"), f"{layer}.output.LayerNorm"
            )
        return x
