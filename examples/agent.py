"""An agent: the model calls two plain Python functions until it can answer.

python examples/agent.py MODEL

The functions' names, docstrings and type hints tell the model what each
tool does and takes; act() runs the calls (with arguments converted to the
annotated types), sends the results back and returns the transcript.
"""

from __future__ import annotations

import json
import sys
from typing import Literal

from ramalama_sdk import ChatMessage, RamalamaModel


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """The current weather in a city.

    Args:
        city: The city's name, e.g. "Paris".
        unit: The temperature unit.
    """
    degrees = 18 if unit == "celsius" else 64
    return f"{degrees} degrees {unit}, sunny, in {city}"


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


def show(message: ChatMessage) -> None:
    """Print one message of the transcript as it arrives."""
    if message["role"] == "tool":
        print(f"tool {message.get('name')}: {message['content']}")
        return
    for call in message.get("tool_calls", []):
        function = call["function"]
        print(f"call {function['name']}({function['arguments']})")
    if message["content"] or "tool_calls" not in message:
        print(f"{message['role']}: {message['content']}")


def main(model_name: str) -> None:
    question = "What is the weather in Paris, and what is 2 + 3?"
    print(f"user: {question}")
    with RamalamaModel(model=model_name) as model:
        result = model.act(
            question,
            [get_weather, add],
            tool_choice="required",  # the first reply must call a tool; later ones choose
            on_message=show,
            # One call per reply: the model asks for the weather and the sum in
            # turn, and a reply never runs on through call after call until
            # max_tokens cuts it off (a cut-off call raises ToolCallCutOffError).
            parallel_tool_calls=False,
            max_tokens=200,
        )
    print(f"done: {len(result.tool_runs)} tool calls in {result.rounds} rounds")
    # The transcript is history for the next question, e.g. model.chat(..., result.messages).
    print(json.dumps([m["role"] for m in result.messages]))


if __name__ == "__main__":
    main(sys.argv[1])
