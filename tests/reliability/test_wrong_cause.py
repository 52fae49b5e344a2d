"""Errors must name the real cause: a stop() from another thread while serve()
loads, a missing adapter file, a model used from a second event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from conftest import in_thread, run_python, server_processes, sleeping_llama_server
from ramalama_sdk import (
    AsyncRamalamaModel,
    RamalamaError,
    RamalamaModel,
    ServerNotRunningError,
    ServerStartError,
)


def test_stop_from_another_thread_ends_a_loading_serve(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeping_llama_server(tmp_path, monkeypatch)
    model = RamalamaModel(model=model_uri, timeout=600)
    thread, outcome = in_thread(model.serve)
    thread.join(timeout=1.0)  # loading (it never ends by itself)
    model.stop()
    thread.join(timeout=60)  # far below the 600 s serve timeout
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ServerNotRunningError), outcome
    assert "stop() was called" in str(outcome[0])
    assert server_processes() == []


@pytest.mark.parametrize("option", ["--lora", "--mmproj"])
def test_missing_adapter_file_is_named(model_uri: str, tmp_path: Path, option: str) -> None:
    missing = str(tmp_path / "adapter.gguf")
    model = RamalamaModel(model=model_uri, runtime_args=[option, missing])
    with pytest.raises(ServerStartError, match="do not exist") as info:
        model.serve()
    assert missing in str(info.value) and "corrupt" not in str(info.value)
    assert server_processes() == []


def test_second_event_loop_is_told_which_loop_owns_the_model(model_uri: str) -> None:
    model = AsyncRamalamaModel(model=model_uri, max_tokens=4)
    asyncio.run(model.serve())
    try:

        async def chat_in_another_loop() -> None:
            with pytest.raises(RamalamaError, match="another event loop"):
                await model.chat("Hello")

        asyncio.run(chat_in_another_loop())
    finally:
        asyncio.run(model.stop())  # stopping works from any loop
    assert not model.is_running
    assert server_processes() == []


UNSTOPPED = """
import asyncio
from ramalama_sdk import AsyncRamalamaModel

async def main():
    served = AsyncRamalamaModel(model={uri!r}, max_tokens=4)
    await served.serve()
    await served.chat("Hello")
    client = await AsyncRamalamaModel.connect(served.base_url, served.api_key)
    await client.chat("Hello")
    global keep
    keep = (served, client)  # neither is stopped: the program just ends

asyncio.run(main())
print("done", flush=True)
"""


def test_no_unclosed_session_warnings_at_exit(model_uri: str) -> None:
    child = run_python(
        UNSTOPPED.format(uri=model_uri), env={**os.environ, "PYTHONWARNINGS": "always"}
    )
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.strip() == "done"
    assert "Unclosed" not in err, err
    assert server_processes() == []
