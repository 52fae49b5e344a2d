"""Bad arguments are refused before anything runs or is sent."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import server_processes
from ramalama_sdk import ChatMessage, RamalamaModel
from ramalama_sdk.http.protocol import chat_body, chat_messages
from ramalama_sdk.options import ModelOptions


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"model": 3}, TypeError, "model must be a str"),
        ({"model": ""}, ValueError, "model must not be empty"),
        ({"model": "a\0b"}, ValueError, "NUL"),
        ({"model": "m", "temp": -0.1}, ValueError, "temp must be >= 0"),
        ({"model": "m", "temp": "hot"}, TypeError, "temp must be a number"),
        ({"model": "m", "temp": float("nan")}, TypeError, "temp must be a number"),
        ({"model": "m", "temp": True}, TypeError, "temp must be a number"),
        ({"model": "m", "ngl": -2}, ValueError, "ngl must be >= -1"),
        ({"model": "m", "ngl": 1.5}, TypeError, "ngl must be an int"),
        ({"model": "m", "max_tokens": -1}, ValueError, "max_tokens must be >= 0"),
        ({"model": "m", "threads": 0}, ValueError, "threads must be -1"),
        ({"model": "m", "ctx_size": -5}, ValueError, "ctx_size must be >= 0"),
        ({"model": "m", "timeout": -1}, ValueError, "timeout must be > 0"),
        ({"model": "m", "timeout": 0}, ValueError, "timeout must be > 0"),
        ({"model": "m", "timeout": "30"}, TypeError, "timeout must be a number"),
        ({"model": "m", "request_timeout": 0}, ValueError, "request_timeout"),
        ({"model": "m", "port": 0}, ValueError, "port must be >= 1"),
        ({"model": "m", "port": 70000}, ValueError, "port must be at most 65535"),
        ({"model": "m", "port": "8080"}, TypeError, "port must be an int"),
        ({"model": "m", "container": "yes"}, TypeError, "container must be"),
        ({"model": "m", "host": ""}, TypeError, "host must be"),
        ({"model": "m", "base_image": ""}, TypeError, "base_image"),
    ],
)
def test_bad_options(options: dict[str, Any], error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        RamalamaModel(**options)


def test_zero_is_a_value_not_a_default() -> None:
    opts = ModelOptions(model="m", temp=0, ngl=0, max_tokens=0, ctx_size=0)
    assert (opts.temp, opts.ngl, opts.max_tokens, opts.ctx_size) == (0, 0, 0, 0)


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        RamalamaModel("tinyllama")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("message", "history", "error", "text"),
    [
        (None, None, TypeError, "message must be a str, not NoneType"),
        (b"hi", None, TypeError, "message must be a str, not bytes"),
        ("\ud800", None, ValueError, "not valid Unicode"),
        ("hi", "not a list", TypeError, "history must be a list"),
        ("hi", {"role": "user", "content": "x"}, TypeError, "history must be a list"),
        ("hi", ["text"], TypeError, r"history\[0\] must be a dict"),
        ("hi", [{"role": "user"}], ValueError, r"history\[0\] lacks content"),
        ("hi", [{"content": "x"}], ValueError, r"history\[0\] lacks role"),
        ("hi", [{"role": "robot", "content": "x"}], ValueError, "unknown role 'robot'"),
        ("hi", [{"role": "user", "content": 5}], TypeError, r"\['content'\] must be a str"),
        ("hi", [{"role": "user", "content": "\udfff"}], ValueError, "not valid Unicode"),
    ],
)
def test_bad_chat_arguments(message: Any, history: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error, match=text):
        chat_messages(message, history)
    # The model checks them before it even looks for a server.
    with pytest.raises(error, match=text):
        RamalamaModel(model="m").chat(message, history)
    assert server_processes() == []


def test_messages_keep_order_and_copy_the_history() -> None:
    history: list[ChatMessage] = [
        {"role": "system", "content": "s"},
        {"role": "developer", "content": "d"},
        {"role": "assistant", "content": "a"},
    ]
    messages = chat_messages("q", history)
    assert messages == [*history, {"role": "user", "content": "q"}]
    messages[0]["content"] = "changed"
    assert history[0]["content"] == "s"
    assert len(history) == 3


def test_body_is_utf8_json_with_nul_and_non_ascii_kept() -> None:
    body = chat_body("m", chat_messages("caf\u00e9 \0 \U0001f600"))
    assert "caf\u00e9 \\u0000 \U0001f600".encode() in body
