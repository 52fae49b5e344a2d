"""The examples run as a user would run them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from conftest import server_processes

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_demo_answers_with_the_real_models() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    def after(label: str) -> list[str]:
        (start,) = [i for i, line in enumerate(lines) if line.startswith(label)]
        return lines[start + 1 :]

    assert "5" in next(line for line in after("1. A question") if line.startswith("   model: "))
    section = after("2. A streamed")
    streamed = section[: next(i for i, x in enumerate(section) if x.startswith("   (streamed"))]
    assert "red" in " ".join(streamed).lower()
    parsed = next(line for line in after("3. A reply parsed") if line.startswith("   model: "))
    assert parsed.startswith("   model: Developer(name=")
    retrieval = after("4. Retrieval")
    assert (
        "   closest note: The Lumen café opens at 7 am and closes at 6 pm on weekdays." in retrieval
    )
    assert lines[-1] == "done: every server has stopped"
    # Nothing of the server reached the user's console.
    assert "llama_" not in done.stdout and done.stderr == ""
    assert server_processes() == []


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_streaming_example(model_uri: str) -> None:
    out = _run(str(EXAMPLES / "streaming.py"), model_uri).splitlines()
    finish, tokens = out[-1].split()
    assert finish in ("finish_reason=stop", "finish_reason=length")
    assert tokens.startswith("tokens=") and int(tokens[7:]) >= 0


def test_structured_output_example(model_uri: str) -> None:
    (line,) = _run(str(EXAMPLES / "structured_output.py"), model_uri).splitlines()
    assert line.startswith("name=")
    int(line.rsplit("population=", 1)[1])  # an integer, as the schema says


def test_conversation_example(model_uri: str) -> None:
    out = _run(str(EXAMPLES / "conversation.py"), model_uri).splitlines()
    assert out[0] == "user: Who wrote Hamlet?" and out[1].startswith("assistant:")
    assert out[-1] == "history: 5 messages"


def test_openai_client_example(model_uri: str) -> None:
    out = _run(str(EXAMPLES / "openai_client.py"), model_uri).splitlines()
    assert out[0].startswith("reply: ")
    assert out[1].startswith("tokens: ") and int(out[1].split()[1]) >= 0  # an int from usage
    assert server_processes() == []


def test_connect_example(model_uri: str) -> None:
    from ramalama_sdk import RamalamaModel

    with RamalamaModel(model=model_uri) as served:
        assert served.base_url is not None and served.api_key is not None
        out = _run(str(EXAMPLES / "connect.py"), served.base_url, served.api_key).splitlines()
        assert out[0].startswith("connected to ") and out[1].startswith("reply: ")
        assert served.is_running  # the client's stop() left the server alone


def test_agent_example(tmp_path: Path) -> None:
    import json

    from ramalama_sdk.testing import tiny_model

    uri = tiny_model(tmp_path, tools=True).as_uri()
    out = _run(str(EXAMPLES / "agent.py"), uri).splitlines()
    assert out[0] == "user: What is the weather in Paris, and what is 2 + 3?"
    calls = [line for line in out if line.startswith("call ")]
    results = [line for line in out if line.startswith("tool ")]
    assert calls and len(calls) == len(results)
    # The first round is forced (tool_choice="required") and grammar-bound, so
    # its call reaches the real functions with typed arguments. Later rounds are
    # the model's free choice: a call the tiny model garbles goes back to it as
    # an error result, which is the loop's job. One call per reply
    # (parallel_tool_calls=False) keeps the random model from calling on and on
    # until max_tokens cuts the reply off, which would end act() with an error.
    ran = [line for line in results if not line.split(": ", 1)[1].startswith("Error: ")]
    assert ran and results[0] in ran
    for line in ran:
        value = line.split(": ", 1)[1]
        if line.startswith("tool get_weather"):
            assert re.fullmatch(r"(18 degrees celsius|64 degrees fahrenheit), sunny, in .*", value)
        else:
            assert line.startswith("tool add: ")
            int(value)  # add() ran and returned an int
    assert out[-2].startswith(f"done: {len(calls)} tool calls in ")
    roles = json.loads(out[-1])
    assert roles[0] == "user" and roles[-1] == "assistant" and roles.count("tool") == len(calls)


def test_embeddings_example(tmp_path: Path) -> None:
    from ramalama_sdk.testing import tiny_model

    model = tiny_model(tmp_path / "tiny-embed.gguf", pooling="mean")  # as embedding models do
    out = _run(str(EXAMPLES / "embeddings.py"), model.as_uri()).splitlines()
    assert out[0].startswith("question: ") and out[0].endswith("(64 dimensions)")
    scores = [float(line.split()[0]) for line in out[1:]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert all(-1.0001 <= s <= 1.0001 for s in scores)
    assert server_processes() == []
