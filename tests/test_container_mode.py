"""Container mode with docker: the argv given to ramalama and the stop path.

No docker daemon can run on these machines (podman does: its real container
path is tested in test_podman_*.py), so the docker-only paths use stand-ins:
a ``ramalama`` (first on PATH, which find_ramalama searches before the
scripts dir) records each call's argv and plays the served endpoint, and a
``docker`` answers ``info`` and records the commands the SDK gives it (the
removal of the container at stop).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from conftest import port_is_listening
from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.process import engine

IMAGE = "quay.io/example/img:1"
NAME = re.compile(r"ramalama-sdk-[0-9a-f]+")

FAKE_RAMALAMA = """\
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = sys.argv[1:]
env = {k: os.environ.get(k) for k in ("RAMALAMA_CONTAINER", "RAMALAMA_IN_CONTAINER")}
with open(os.environ["FAKE_RAMALAMA_RECORD"], "a") as record:
    record.write(json.dumps({"argv": sys.argv, "pid": os.getpid(), "env": env}) + "\\n")
command = next(a for a in args if a in ("serve", "stop", "pull", "list", "rm", "info"))
if command == "info":
    print(json.dumps({"Image": "quay.io/ramalama/ramalama:0.25"}))
if command != "serve":
    sys.exit(0)

class Handler(BaseHTTPRequestHandler):
    def reply(self, status, data):
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        else:
            self.reply(404, {"error": {"message": "not found"}})

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            return self.reply(404, {"error": {"message": "not found"}})
        text = "echo: " + request["messages"][-1]["content"]
        if request.get("stream"):  # as llama-server streams: one delta, then the end
            events = [
                {"choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]},
                {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2,
                                          "total_tokens": 3}},
            ]
            body = "".join(f"data: {json.dumps(e)}\\n\\n" for e in events) + "data: [DONE]\\n\\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(body.encode())))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        self.reply(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "model": request["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        })

    def log_message(self, *args):
        pass

port = int(args[args.index("--port") + 1])
host = args[args.index("--host") + 1]
ThreadingHTTPServer((host, port), Handler).serve_forever()  # until SIGTERM
"""


@dataclass
class Fake:
    ramalama: str
    record: Path
    docker_record: Path

    def docker_calls(self, command: str) -> list[list[str]]:
        if not self.docker_record.exists():
            return []
        calls = [line.split() for line in self.docker_record.read_text().splitlines()]
        return [c for c in calls if c[0] == command]

    def calls(self, command: str | None = None) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        calls = [json.loads(line) for line in self.record.read_text().splitlines()]
        return [c for c in calls if command is None or command in c["argv"]]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fake]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ramalama = bin_dir / "ramalama"
    ramalama.write_text(f"#!{sys.executable}\n{FAKE_RAMALAMA}")
    docker = bin_dir / "docker"
    docker.write_text(
        f'#!/bin/sh\necho "$*" >> "{tmp_path}/docker-calls.txt"\n'
        '[ "$1" = info ] || [ "$1" = rm ] || [ "$1" = image ] && exit 0\nexit 1\n'
    )
    for script in (ramalama, docker):
        script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_RAMALAMA_RECORD", str(tmp_path / "calls.jsonl"))
    # podman may be installed and working too: ramalama's setting picks docker.
    monkeypatch.setenv("RAMALAMA_CONTAINER_ENGINE", "docker")
    engine.engine_answers.cache_clear()
    result = Fake(
        ramalama=str(ramalama),
        record=tmp_path / "calls.jsonl",
        docker_record=tmp_path / "docker-calls.txt",
    )
    try:
        yield result
    finally:
        engine.engine_answers.cache_clear()
        for call in result.calls("serve"):  # never leave a stand-in server behind
            try:
                proc = psutil.Process(call["pid"])
                if str(ramalama) in proc.cmdline():
                    proc.kill()
            except psutil.Error:
                pass


def flag(argv: list[str], name: str) -> str | None:
    head = argv[: argv.index("--")]
    return head[head.index(name) + 1] if name in head else None


def split_call(call: dict[str, Any], command: str) -> tuple[list[str], list[str]]:
    """The global flags of a recorded call, checked for docker; then ``command`` on."""
    argv: list[str] = call["argv"]
    head, rest = argv[1 : argv.index(command)], argv[argv.index(command) :]
    assert "--nocontainer" not in head
    assert head[head.index("--engine") + 1] == "docker"
    return head, rest


def check_serve_argv(fake: Fake, port: int | None) -> tuple[str, int]:
    """The checks of one container-mode serve call; its container name and pid."""
    [call] = fake.calls("serve")
    argv: list[str] = call["argv"]
    assert argv[0] == fake.ramalama
    assert "--nocontainer" not in argv
    split_call(call, "serve")
    assert flag(argv, "--host") == "127.0.0.1"
    assert port is not None and flag(argv, "--port") == str(port)
    assert flag(argv, "--image") == IMAGE
    assert "--threads" not in argv  # in a container ramalama's choice stands
    assert argv[-2:] == ["--", "tinyllama"]
    name = flag(argv, "--name")
    assert name is not None and NAME.fullmatch(name)
    return name, int(call["pid"])


def check_stopped(fake: Fake, name: str, pid: int, port: int) -> None:
    # The container is removed by the engine directly (a ramalama stop costs
    # a Python start-up more); ramalama is not asked.
    assert fake.calls("stop") == []
    assert fake.docker_calls("rm") == [["rm", "--force", name]]
    assert not psutil.pid_exists(pid)
    assert not port_is_listening(port)


def test_serve_chat_and_stop_in_a_container(fake: Fake) -> None:
    model = RamalamaModel(model="tinyllama", container=True, base_image=IMAGE)
    try:
        model.serve()
        assert model.is_running
        port = model.port
        name, pid = check_serve_argv(fake, port)
        assert port is not None and port_is_listening(port)
        assert fake.docker_calls("rm") == []
        reply = model.chat("How tall is Michael Jordan?")
        assert reply == {"role": "assistant", "content": "echo: How tall is Michael Jordan?"}
    finally:
        model.stop()
    assert not model.is_running
    check_stopped(fake, name, pid, port)
    model.stop()  # idempotent: no second removal
    assert len(fake.docker_calls("rm")) == 1


def test_explicit_threads_are_passed_in_a_container(fake: Fake) -> None:
    with RamalamaModel(model="tinyllama", container=True, threads=3) as model:
        [call] = fake.calls("serve")
        assert flag(call["argv"], "--threads") == "3"
        assert flag(call["argv"], "--image") is None
        assert model.is_running


def test_download_pulls_with_the_engine(fake: Fake) -> None:
    RamalamaModel(model="tinyllama", container=True, base_image=IMAGE).download()
    [call] = fake.calls()
    assert call["argv"][0] == fake.ramalama
    assert split_call(call, "pull")[1] == ["pull", "--", "tinyllama"]
    # The server image is checked first, with docker; present, so not pulled.
    assert fake.docker_calls("image") == [["image", "inspect", "--format", "{{.Id}}", IMAGE]]
    assert fake.docker_calls("pull") == []


def test_download_asks_ramalama_for_its_default_image(fake: Fake) -> None:
    RamalamaModel(model="tinyllama", container=True).download()
    info, pull = fake.calls()
    assert split_call(info, "info")[1] == ["info"]
    assert split_call(pull, "pull")[1] == ["pull", "--", "tinyllama"]
    image = "quay.io/ramalama/ramalama:0.25"
    assert fake.docker_calls("image") == [["image", "inspect", "--format", "{{.Id}}", image]]


async def test_async_model_in_a_container(fake: Fake) -> None:
    async with AsyncRamalamaModel(model="tinyllama", container=True, base_image=IMAGE) as model:
        port = model.port
        name, pid = check_serve_argv(fake, port)
        assert (await model.chat("Hi"))["content"] == "echo: Hi"
    assert port is not None
    check_stopped(fake, name, pid, port)
    assert split_call(fake.calls()[0], "pull")[1] == ["pull", "--", "tinyllama"]


def _ramalama_uses_a_container(call: dict[str, Any]) -> bool:
    """How ramalama 0.25 decides: a global flag, else RAMALAMA_IN_CONTAINER, else
    RAMALAMA_CONTAINER (unset: an engine is present, so a container)."""
    argv: list[str] = call["argv"]
    head = argv[: argv.index("serve")]
    flags = [a for a in head if a in ("--container", "--nocontainer")]
    if flags:
        return flags[-1] == "--container"
    env = call["env"]
    value = env["RAMALAMA_IN_CONTAINER"] or env["RAMALAMA_CONTAINER"]
    return value is None or value.strip().lower() in {"on", "true", "1", "yes", "y"}


def test_container_true_overrides_a_host_config(fake: Fake) -> None:
    assert os.environ["RAMALAMA_CONTAINER"] == "false"  # set for the whole suite
    with RamalamaModel(model="tinyllama", container=True) as model:
        assert model.is_running
    [call] = fake.calls("serve")
    assert _ramalama_uses_a_container(call)
