"""Serve with ramalama_sdk, talk with the official OpenAI client.

    pip install openai
    python examples/openai_client.py MODEL

The served model has a fresh API key; base_url and api_key are all the
OpenAI client needs.
"""

from __future__ import annotations

import sys

import openai

from ramalama_sdk import RamalamaModel


def main(model_name: str) -> None:
    with RamalamaModel(model=model_name) as model:
        client = openai.OpenAI(base_url=model.base_url, api_key=model.api_key)
        completion = client.chat.completions.create(
            model=model.model,
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=16,
        )
        print("reply:", completion.choices[0].message.content)
        print("tokens:", completion.usage.completion_tokens if completion.usage else None)
        for chunk in client.chat.completions.create(
            model=model.model,
            messages=[{"role": "user", "content": "Count to three."}],
            max_tokens=16,
            stream=True,
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()


if __name__ == "__main__":
    main(sys.argv[1])
