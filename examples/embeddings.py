"""Embed three sentences and rank them by similarity to a question.

python examples/embeddings.py MODEL     # an embedding model, e.g. a nomic-embed GGUF
"""

from __future__ import annotations

import math
import sys

from ramalama_sdk import RamalamaModel

SENTENCES = [
    "The cat sleeps on the warm windowsill.",
    "Stock markets fell sharply on Monday.",
    "A kitten naps in the afternoon sun.",
]
QUESTION = "Where is the cat resting?"


def cosine(a: list[float], b: list[float]) -> float:
    # Normalised vectors: the dot product is the cosine.
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def main(model_name: str) -> None:
    with RamalamaModel(model=model_name, embedding=True) as model:
        question, *vectors = model.embed([QUESTION, *SENTENCES], normalize=True)
    pairs = zip(vectors, SENTENCES, strict=True)
    ranked = sorted(pairs, key=lambda pair: cosine(question, pair[0]), reverse=True)
    print(f"question: {QUESTION} ({len(question)} dimensions)")
    for vector, sentence in ranked:
        print(f"{cosine(question, vector):+.3f}  {sentence}")


if __name__ == "__main__":
    main(sys.argv[1])
