"""Ask for JSON that matches a schema; the server enforces it with a grammar.

python examples/structured_output.py MODEL
"""

from __future__ import annotations

import json
import sys

from ramalama_sdk import RamalamaModel

CITY = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["name", "population"],
}


def main(model_name: str) -> None:
    with RamalamaModel(model=model_name) as model:
        reply = model.chat("Name a large city.", response_format=CITY, max_tokens=200)
        city = json.loads(reply["content"])
        print(f"name={city['name']!r} population={city['population']}")


if __name__ == "__main__":
    main(sys.argv[1])
