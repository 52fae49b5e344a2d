"""A conversation that keeps its own history.

python examples/conversation.py MODEL
"""

from __future__ import annotations

import sys

from ramalama_sdk import RamalamaModel


def main(model_name: str) -> None:
    with RamalamaModel(model=model_name, max_tokens=32) as model:
        chat = model.conversation(system="You answer in one short sentence.")
        print("user: Who wrote Hamlet?")
        print("assistant:", chat.say("Who wrote Hamlet?")["content"])
        print("user: When?")
        print("assistant:", "".join(chat.stream("When?")))
        print(f"history: {len(chat.history)} messages")


if __name__ == "__main__":
    main(sys.argv[1])
