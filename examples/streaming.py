"""Print a reply as it is generated, then what the server says about it.

python examples/streaming.py MODEL      # e.g. tinyllama
"""

from __future__ import annotations

import sys

from ramalama_sdk import RamalamaModel


def main(model_name: str) -> None:
    with RamalamaModel(model=model_name) as model:
        stream = model.stream("Tell me a short story.", max_tokens=64)
        for delta in stream:
            print(delta, end="", flush=True)
        print()
        print(f"finish_reason={stream.finish_reason} tokens={stream.usage.completion_tokens}")


if __name__ == "__main__":
    main(sys.argv[1])
