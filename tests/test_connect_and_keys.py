"""API keys by default, connect() to a running server, conversations, logs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil
import pytest
import requests

from conftest import llama_server_of
from ramalama_sdk import (
    APIConnectionError,
    APIError,
    AsyncRamalamaModel,
    RamalamaError,
    RamalamaModel,
    ServerNotRunningError,
)


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, max_tokens=8) as served:
        yield served


def _post(url: str, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    return requests.post(
        url + "/chat/completions", json=body, headers=headers, timeout=30
    ).status_code


def test_a_served_model_demands_its_random_key(model: RamalamaModel) -> None:
    assert model.base_url is not None
    key = model.api_key
    assert key is not None and len(key) >= 32
    assert _post(model.base_url, None) == 401
    assert _post(model.base_url, "wrong") == 401
    assert _post(model.base_url, key) == 200
    assert model.chat("Hi")["role"] == "assistant"


def test_the_key_is_in_no_command_line_log_or_error(model: RamalamaModel) -> None:
    key = model.api_key
    assert key is not None and model._server is not None and model._server.popen is not None
    ramalama = psutil.Process(model._server.popen.pid)
    for proc in [ramalama, *ramalama.children(recursive=True)]:
        assert key not in " ".join(proc.cmdline())
    assert not any(key in line for line in model.logs(10_000))
    with pytest.raises(APIError) as info:
        model.chat("word " * 5000)
    assert key not in str(info.value) and key not in repr(model.options)


def test_each_serve_gets_a_new_key(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri)
    with model:
        first = model.api_key
    with model:
        assert model.api_key not in (None, first)


def test_a_chosen_key_and_no_key(model_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with RamalamaModel(model=model_uri, api_key="s3cret-key") as model:
        assert model.api_key == "s3cret-key"
        assert model.base_url is not None
        assert _post(model.base_url, "s3cret-key") == 200
        assert _post(model.base_url, None) == 401
    # A key in the caller's environment must not switch auth on behind the SDK's back.
    monkeypatch.setenv("LLAMA_API_KEY", "from-the-environment")
    with RamalamaModel(model=model_uri, api_key=False) as model:
        assert model.api_key is None
        assert model.base_url is not None
        assert _post(model.base_url, None) == 200
        assert model.chat("Hi", max_tokens=2)["role"] == "assistant"


@pytest.mark.parametrize("bad", ["", " x", "a,b", "line\nbreak"])
def test_unusable_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="api_key"):
        RamalamaModel(model="m", api_key=bad)
    with pytest.raises(TypeError, match="api_key"):
        RamalamaModel(model="m", api_key=5)  # type: ignore[arg-type]


def test_connect_to_a_served_model(model: RamalamaModel) -> None:
    assert model.base_url is not None
    remote = RamalamaModel.connect(model.base_url, api_key=model.api_key)
    assert remote.is_running and remote.base_url == model.base_url
    assert remote.model.endswith("tiny-llama.gguf")  # the alias llama-server lists
    assert remote.chat("Hi")["role"] == "assistant"
    stream = remote.stream("Hi", max_tokens=3)
    assert "".join(stream) == stream.message["content"] and stream.done
    assert remote.complete([{"role": "user", "content": "Hi"}], max_tokens=3).usage.total_tokens
    with pytest.raises(RamalamaError, match="connected to a server"):
        remote.download()
    remote.stop()
    assert not remote.is_running
    with pytest.raises(ServerNotRunningError):
        remote.chat("Hi")
    assert model.is_running and model.chat("Hi")["role"] == "assistant"


def test_connect_needs_the_key_and_a_server(model: RamalamaModel, free_port: int) -> None:
    assert model.base_url is not None
    with pytest.raises(APIError) as info:
        RamalamaModel.connect(model.base_url).chat("Hi")
    assert info.value.status == 401
    with pytest.raises(APIConnectionError):
        RamalamaModel.connect(f"http://127.0.0.1:{free_port}/v1", model="x").chat("Hi")
    with pytest.raises(ValueError, match="http"):
        RamalamaModel.connect("127.0.0.1:8080")


async def test_async_connect(model: RamalamaModel) -> None:
    assert model.base_url is not None
    remote = await AsyncRamalamaModel.connect(model.base_url, api_key=model.api_key)
    try:
        assert remote.model.endswith("tiny-llama.gguf")
        assert (await remote.chat("Hi"))["role"] == "assistant"
        stream = remote.stream("Hi", max_tokens=3)
        text = "".join([d async for d in stream])
        assert stream.done and stream.message["content"] == text
    finally:
        await remote.stop()
    assert model.is_running


def test_conversation_keeps_and_resets_its_history(model: RamalamaModel) -> None:
    chat = model.conversation(system="Be brief.")
    first = chat.say("Hello")
    assert chat.history == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
        first,
    ]
    streamed = chat.stream("And then?", max_tokens=4)
    text = "".join(streamed)
    assert chat.history[-2:] == [
        {"role": "user", "content": "And then?"},
        {"role": "assistant", "content": text},
    ]
    # A failed call leaves the history as it was; so does a broken-off stream.
    with pytest.raises(APIError):
        chat.say("word " * 5000)
    for _ in chat.stream("More", max_tokens=4000, temperature=0):
        break
    assert len(chat.history) == 5
    snapshot = chat.history
    snapshot.clear()  # a copy: the conversation is untouched
    assert len(chat.history) == 5
    chat.reset()
    assert chat.history == [{"role": "system", "content": "Be brief."}]
    chat.reset(system="Be long.")
    assert chat.history == [{"role": "system", "content": "Be long."}]


async def test_async_conversation(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=4) as model:
        chat = model.conversation()
        reply = await chat.say("Hello")
        text = "".join([d async for d in chat.stream("Again")])
        assert chat.history == [
            {"role": "user", "content": "Hello"},
            reply,
            {"role": "user", "content": "Again"},
            {"role": "assistant", "content": text},
        ]


def test_logs_hold_the_server_output(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri)
    assert model.logs() == []
    with model:
        model.chat("Hi", max_tokens=2)
        lines = model.logs(tail=500)
        assert any("llama_server" in line or "srv" in line for line in lines)
        assert len(model.logs(tail=3)) == 3
        # The log has no name in the temp dir: nothing to leave behind. (The
        # server's own descriptors tell; a listing of the temp dir would
        # also see every other program's files.)
        for fd in (1, 2):
            target = os.readlink(f"/proc/{llama_server_of(model).pid}/fd/{fd}")
            assert target.endswith("(deleted)"), target
    # After stop the last lines stay readable.
    kept = model.logs(tail=500)
    assert kept[: len(lines)] == lines  # shutdown may have added lines after
    assert len(model.logs(tail=3)) == 3
