"""The per-call options are typed: a type checker catches a misspelt or mistyped one.

Runs mypy (the lint extra) on a few lines that use the public API the way a
user would; skipped, with the reason, where mypy is not installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api", reason="mypy is not installed (pip install '.[lint]')")

SOURCE = """
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel

def add(a: int, b: int) -> int:
    return a + b

async def use(model: RamalamaModel, amodel: AsyncRamalamaModel) -> None:
    model.chat("x", temperature=0.2, top_k=40, logit_bias={1: -5.0}, tools=[add])
    model.complete([], logprobs=True, top_logprobs=2, extra_body={"mirostat": 2})
    model.act("x", [add], tool_choice="required", max_rounds=3)
    await amodel.chat("x", reasoning_effort="low", chat_template_kwargs={"a": 1})
    model.chat("x", temprature=0.2)            # line 12: misspelt
    model.stream("x", top_k="many")            # line 13: wrong type
    await amodel.complete([], logprobs="yes")  # line 14: wrong type
    model.act("x", [add], tools=[add])         # line 15: tools twice
"""


def test_mypy_checks_every_option(tmp_path: Path) -> None:
    script = tmp_path / "use_options.py"
    script.write_text(SOURCE)
    out, err, status = api.run(
        [str(script), "--strict", "--no-incremental", "--cache-dir", str(tmp_path / "cache")]
    )
    lines = {int(line.split(":")[1]) for line in out.splitlines() if ": error:" in line}
    assert lines == {12, 13, 14, 15}, out + err
    assert status == 1
