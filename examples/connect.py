"""Chat with a server that runs elsewhere: another process, a container, a cluster.

    python examples/connect.py http://HOST:PORT/v1 [API_KEY]

stop() closes the connection only; the server keeps running.
"""

from __future__ import annotations

import sys

from ramalama_sdk import RamalamaModel


def main(base_url: str, api_key: str | None) -> None:
    model = RamalamaModel.connect(base_url, api_key=api_key)
    try:
        print(f"connected to {model.model!r} at {model.base_url}")
        print("reply:", model.chat("Hello!", max_tokens=16)["content"])
    finally:
        model.stop()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
