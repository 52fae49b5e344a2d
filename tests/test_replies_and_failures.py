"""Reading replies, error bodies and ramalama's failure texts (pure functions).

The texts are those ramalama 0.25 and llama-server print; the real-stack
tests in test_errors_real.py produce them for real.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest

from ramalama_sdk import (
    APIError,
    ContainerEngineError,
    DownloadError,
    ImagePullError,
    ModelNotFoundError,
    ServerStartError,
)
from ramalama_sdk.http.protocol import api_error, parse_chat_reply
from ramalama_sdk.process.containers import container_only
from ramalama_sdk.process.containers import start_error as container_start_error
from ramalama_sdk.process.failures import download_error, error_line, is_port_clash, start_error
from ramalama_sdk.process.steps import Step

ARGV = ["ramalama", "--nocontainer", "pull", "--", "m"]


def test_reply_with_null_content_is_an_empty_string() -> None:
    body = b'{"choices":[{"message":{"role":"assistant","content":null}}]}'
    assert parse_chat_reply(body) == {"role": "assistant", "content": ""}


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"choices":[]}', b'{"choices":[{}]}'])
def test_malformed_replies_are_api_errors(body: bytes) -> None:
    with pytest.raises(APIError, match="reply"):
        parse_chat_reply(body)


@pytest.mark.parametrize(
    ("status", "body", "text"),
    [
        (
            400,
            b'{"error":{"code":400,"message":"too long","type":"exceed_context_size_error"}}',
            "HTTP 400: too long (exceed_context_size_error)",
        ),
        (
            401,
            b'{"error":{"message":"Invalid API Key","type":"authentication_error"}}',
            "HTTP 401: Invalid API Key",
        ),
        (500, b'{"error":"boom"}', "HTTP 500: boom"),
        (503, b"<html>busy</html>", "HTTP 503: <html>busy</html>"),
        (502, b"", "HTTP 502: (empty body)"),
    ],
)
def test_error_bodies(status: int, body: bytes, text: str) -> None:
    error = api_error(status, body)
    assert str(error).startswith(text)
    assert error.status == status


@pytest.mark.parametrize(
    ("output", "code", "kind", "text"),
    [
        ("Error: No such file: '/abs/nope.gguf", 2, ModelNotFoundError, "not found"),
        (
            "Error: --help' is not a known shortname and no transport",
            22,
            ModelNotFoundError,
            "not found",
        ),
        (
            "Error: Failed to pull model: <urlopen error [Errno -2] Name or service not known>",
            22,
            DownloadError,
            "no network",
        ),
        ("Error: Model 'x' not found", 22, ModelNotFoundError, "not found"),
        ("Error: something else entirely", 1, DownloadError, "something else entirely"),
        ("", 9, DownloadError, "(exit code 9)"),
    ],
)
def test_pull_failures(output: str, code: int, kind: type[DownloadError], text: str) -> None:
    error = download_error("m", ARGV, code, "Removing snapshot...\n" + output)
    assert type(error) is kind
    assert text in str(error)
    assert "'m'" in str(error)
    assert error.exit_code == code and error.command == ARGV


@pytest.mark.parametrize(
    ("log", "code", "text"),
    [
        (
            'Error: RamaLama requires the "llama-server" command to be installed on the host '
            "when running with --nocontainer.",
            38,
            "'llama-server' command is not installed",
        ),
        (
            "gguf_init_from_file_impl: invalid magic characters: 'this', expected 'GGUF'\n"
            "srv    load_model: exiting due to model loading error",
            1,
            "could not be loaded",
        ),
        ("data is not within the file bounds, model is corrupted or incomplete", 1, "truncated"),
        (
            "couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 8123\n"
            "exiting due to HTTP server error",
            1,
            "port 8123 is already in use",
        ),
        ("some new failure nobody has seen", 245, "some new failure nobody has seen"),
    ],
)
def test_serve_failures(log: str, code: int, text: str) -> None:
    tail = log.splitlines()
    error = start_error("m", ARGV, code, tail, port=8123)
    assert isinstance(error, ServerStartError)
    assert text in str(error)
    assert error.exit_code == code and error.log_tail == tail
    assert tail[-1] in str(error)  # the log tail is in the message


def test_serve_that_could_not_pull_is_a_download_error() -> None:
    error = start_error("m", ARGV, 2, ["Error: No such file: '/x.gguf"], port=1)
    assert isinstance(error, ModelNotFoundError)


def test_port_clash_and_error_line() -> None:
    assert is_port_clash(["couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 1"])
    assert not is_port_clash(["listening on http://127.0.0.1:1"])
    assert error_line("a\nError: first\nb\nError: last\nc") == "last"
    assert error_line("no error here\nlast line\n") == "last line"


PODMAN_SERVE = ["ramalama", "--container", "--engine", "/usr/bin/podman", "serve", "m"]


def _failing(error: Exception) -> Generator[Step, object, None]:
    raise error
    yield  # a generator of steps that fails at its first


def _in_a_router(error: ServerStartError) -> ServerStartError:
    """The error as a router, which runs in a container only, raises it."""
    with pytest.raises(ServerStartError) as raised:
        next(container_only(_failing(error)))
    return raised.value


@pytest.mark.parametrize(
    ("log", "kind", "names"),
    [
        (
            "Error: Failed to pull image quay.io/r/r:0.25: registry quay.io is blocked",
            ImagePullError,
            "the container image 'quay.io/r/r:0.25' could not be pulled",
        ),
        (
            "Error: runc: runc create failed: OCI permission denied",
            ContainerEngineError,
            "podman could not run the server's container",
        ),
    ],
)
def test_container_failures_and_their_router_form(
    log: str, kind: type[ServerStartError], names: str
) -> None:
    error = container_start_error("file:///m.gguf", PODMAN_SERVE, 125, [log])
    assert isinstance(error, kind) and names in str(error) and log in str(error)
    assert "serve without containers with container=False" in str(error)
    routed = _in_a_router(error)
    assert type(routed) is kind and names in str(routed)
    assert "container=False" not in str(routed)
    assert "router mode runs in a container only" in str(routed)
    kept = ("model", "command", "exit_code", "log_tail", "detail", "image", "engine")
    assert {a: getattr(routed, a, None) for a in kept} == {a: getattr(error, a, None) for a in kept}
