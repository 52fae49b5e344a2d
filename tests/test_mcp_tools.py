"""MCP servers as tool sources of act(), on the real stack.

The server is a real one (tests/mcp_server.py, on the official ``mcp``
package), run over stdin/stdout and over streamable HTTP; the model is the
tiny tools model, whose calls a grammar keeps to each tool's schema.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from conftest import served_fixtures
from ramalama_sdk import (
    AsyncRamalamaModel,
    McpServer,
    McpToolError,
    RamalamaModel,
    ToolArgumentsError,
    ToolRun,
    ToolServerError,
)
from ramalama_sdk.agents.mcp_tools import schema_checker
from ramalama_sdk.chat_options import GenerationOptions

SERVER = str(Path(__file__).with_name("mcp_server.py"))
OPTIONS: GenerationOptions = {"max_tokens": 300, "seed": 7}


model, amodel = served_fixtures("tools_uri")


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    return tmp_path / "calls.jsonl"


def _stdio(calls: Path) -> McpServer:
    return McpServer.stdio([sys.executable, SERVER], env={"MCP_CALLS": str(calls)})


def _received(calls: Path) -> list[dict[str, int]]:
    if not calls.exists():
        return []
    return [json.loads(line) for line in calls.read_text().splitlines()]


def _check_adds(runs: list[ToolRun], calls: Path) -> None:
    """Every add the model asked for reached the server, and its answer came back."""
    received = _received(calls)
    adds = [run for run in runs if run.call.name == "add"]
    assert adds and len(adds) == len(received), (runs, received)
    for run, seen in zip(adds, received, strict=True):
        assert run.error is None, run
        assert (seen["a"], seen["b"]) == (run.call.arguments["a"], run.call.arguments["b"])
        assert run.content == str(seen["a"] + seen["b"])


def _gone(pids: set[int]) -> bool:
    return not any(psutil.pid_exists(pid) and _alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_act_calls_the_tools_of_a_stdio_mcp_server(model: RamalamaModel, calls: Path) -> None:
    def local_note(text: str) -> str:
        """Keep a note."""
        return "noted"

    result = model.act("Add 2 and 3.", [local_note, _stdio(calls)], tool_choice="add", **OPTIONS)
    _check_adds(result.tool_runs, calls)
    # The server's tools were offered beside the function, with its schema.
    offered = {m["name"] for m in result.messages if m["role"] == "tool"}
    assert offered == {"add"}
    # The server ran for the call only.
    assert _gone({seen["pid"] for seen in _received(calls)})


def test_an_mcp_tool_error_is_a_tool_error_the_model_sees(
    model: RamalamaModel, calls: Path
) -> None:
    result = model.act("Read the sensor.", [_stdio(calls)], tool_choice="sensor", **OPTIONS)
    run = result.tool_runs[0]
    assert run.error is not None and run.error.startswith("McpToolError")
    assert run.content.startswith("Error: McpToolError") and "sensor" in run.content
    with pytest.raises(McpToolError):
        model.act(
            "Read the sensor.",
            [_stdio(calls)],
            tool_choice="sensor",
            raise_tool_errors=True,
            **OPTIONS,
        )


def test_an_mcp_server_that_dies_is_a_clear_error(model: RamalamaModel, calls: Path) -> None:
    with pytest.raises(ToolServerError) as caught:
        model.act("Crash.", [_stdio(calls)], tool_choice="crash", **OPTIONS)
    message = str(caught.value)
    assert SERVER in message and "crash" in message
    assert "crashing on purpose" in message  # what the server said last
    assert isinstance(caught.value, ConnectionError)
    assert model.chat("Still there?", max_tokens=4)["role"] == "assistant"


def test_an_mcp_server_that_cannot_start_fails_before_any_request(
    model: RamalamaModel, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-server"
    with pytest.raises(ToolServerError, match="could not be started or reached"):
        model.act("Add.", [McpServer.stdio([str(missing)])], **OPTIONS)


def test_sync_act_with_mcp_under_a_running_event_loop(model: RamalamaModel, calls: Path) -> None:
    """As in Jupyter, whose cells run inside an event loop: the blocking act()
    runs the MCP client in a loop of its own, never the caller's."""

    async def cell() -> int:
        result = model.act("Add 1 and 1.", [_stdio(calls)], tool_choice="add", **OPTIONS)
        return len(result.tool_runs)

    assert asyncio.run(cell()) >= 1
    assert _received(calls)


@pytest.fixture
def http_server(calls: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, SERVER, str(port)],
        env={**_env(), "MCP_CALLS": str(calls)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            assert process.poll() is None, "the MCP server exited"
            assert time.monotonic() < deadline, "the MCP server never listened"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.kill()
        process.wait()


def _env() -> dict[str, str]:
    return dict(os.environ)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_act_calls_the_tools_of_a_streamable_http_mcp_server(
    model: RamalamaModel, http_server: str, calls: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server on this machine is reached directly, whatever the proxy settings say.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    result = model.act("Add 4 and 5.", [McpServer.http(http_server)], tool_choice="add", **OPTIONS)
    _check_adds(result.tool_runs, calls)


async def test_async_act_with_mcp_servers(
    amodel: AsyncRamalamaModel, calls: Path, http_server: str
) -> None:
    done = await amodel.act("Add 2 and 2.", [_stdio(calls)], tool_choice="add", **OPTIONS)
    _check_adds(done.tool_runs, calls)
    # Two servers with the same tool names are refused before anything is asked.
    with pytest.raises(ValueError, match="two tools are named 'add'"):
        await amodel.act("Add.", [_stdio(calls), McpServer.http(http_server)], **OPTIONS)
    with pytest.raises(ToolServerError, match="crashing on purpose"):
        await amodel.act("Crash.", [_stdio(calls)], tool_choice="crash", **OPTIONS)
    assert _gone({seen["pid"] for seen in _received(calls)})


def test_arguments_are_checked_against_the_tool_schema() -> None:
    check = schema_checker(
        "add",
        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
    )
    assert check({"a": 1}) == {"a": 1}
    with pytest.raises(ToolArgumentsError, match="a: 'x' is not of type 'integer'"):
        check({"a": "x"})
    with pytest.raises(ToolArgumentsError, match="'a' is a required property"):
        check({})


def test_mcp_server_options_are_checked() -> None:
    with pytest.raises(TypeError, match="command must be a list"):
        McpServer.stdio("python server.py")
    with pytest.raises(ValueError, match="url must be an http"):
        McpServer.http("ftp://example/mcp")
    with pytest.raises(ValueError, match="timeout must be > 0"):
        McpServer.http("http://127.0.0.1:1/mcp", timeout=0)
    secret = McpServer.http("http://127.0.0.1:1/mcp", headers={"Authorization": "Bearer K"})
    assert "Bearer" not in repr(secret)
