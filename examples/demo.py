"""Serve a model and chat with it, offline, with no container engine.

    python examples/demo.py [WORKDIR]

Writes a tiny random-weights GGUF model into WORKDIR (its replies are
nonsense words: the point is the whole path, not the answers), then runs the
four ways of using ramalama_sdk: a ``with`` block, a conversation with a
system prompt, the manual download/serve/stop lifecycle, and asyncio.
With a real model, replace the model URI by a name such as "tinyllama".
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from ramalama_sdk import AsyncRamalamaModel, ChatMessage, RamalamaModel
from ramalama_sdk.testing import tiny_model


def main(workdir: Path) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    uri = tiny_model(workdir / "tiny-llama.gguf").as_uri()
    print(f"model: {uri}")

    started = time.perf_counter()
    with RamalamaModel(model=uri, container=False, max_tokens=24) as model:
        print(f"serving at {model.base_url} (ready in {time.perf_counter() - started:.2f} s)")
        reply = model.chat("How tall is Michael Jordan")
        print(f"1. with-block    -> {reply['content']!r}")

        history: list[ChatMessage] = [
            {"role": "system", "content": "You answer in one short sentence."},
            {"role": "user", "content": "Who is Michael Jordan?"},
            {"role": "assistant", "content": "A basketball player."},
        ]
        reply = model.chat("How tall?", history)
        print(f"2. with history  -> {reply['content']!r}")

    model = RamalamaModel(model=uri, container=False, max_tokens=24, temp=0)
    model.download()
    model.serve()
    try:
        reply = model.chat("Hello!")
        print(f"3. manual, temp=0 -> {reply['content']!r}")
    finally:
        model.stop()

    async def chat_async() -> None:
        async with AsyncRamalamaModel(model=uri, container=False, max_tokens=24) as model:
            replies = await asyncio.gather(*(model.chat(f"Hello {i}") for i in range(3)))
            for reply in replies:
                print(f"4. async         -> {reply['content']!r}")

    asyncio.run(chat_async())
    print("done: every server has stopped")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
