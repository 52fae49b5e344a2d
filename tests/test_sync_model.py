"""RamalamaModel on the real stack: ramalama serve, llama-server, tiny GGUF."""

from __future__ import annotations

import copy
import threading

import psutil
import pytest

from conftest import has_exited, port_is_listening, server_processes
from ramalama_sdk import ChatMessage, RamalamaModel, ServerNotRunningError


def _assert_reply(reply: ChatMessage) -> None:
    assert set(reply) == {"role", "content"}
    assert reply["role"] == "assistant"
    assert isinstance(reply["content"], str)


def test_with_block_serves_chats_and_stops(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, max_tokens=16) as model:
        assert model.is_running
        assert model.base_url == f"http://127.0.0.1:{model.port}/v1"
        port = model.port
        assert port is not None and port_is_listening(port)
        _assert_reply(model.chat("How tall is Michael Jordan"))
    assert not model.is_running
    assert not port_is_listening(port)
    assert server_processes() == []


def test_history_with_system_prompt_is_sent_and_not_mutated(model_uri: str) -> None:
    history: list[ChatMessage] = [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    before = copy.deepcopy(history)
    with RamalamaModel(model=model_uri, max_tokens=8, ctx_size=256) as model:
        _assert_reply(model.chat("How tall?", history))
        # The history reaches the server: a history longer than the context
        # is refused by it, which shows the messages were really sent.
        long_history: list[ChatMessage] = [{"role": "system", "content": "word " * 400}]
        with pytest.raises(Exception, match="context"):
            model.chat("How tall?", long_history)
    assert history == before


def test_manual_lifecycle_download_serve_stop(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, max_tokens=8)
    model.download()
    assert not model.is_running
    model.serve()
    try:
        _assert_reply(model.chat("Hello!"))
    finally:
        model.stop()
    assert not model.is_running
    model.stop()  # idempotent


def test_stop_leaves_no_process_and_frees_the_port(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri)
    model.serve()
    server = model._server
    assert server is not None and server.popen is not None
    ramalama = psutil.Process(server.popen.pid)
    children = ramalama.children(recursive=True)
    assert any("llama-server" in c.name() for c in children), children
    port = model.port
    assert port is not None
    model.stop()
    for proc in [ramalama, *children]:
        assert has_exited(proc)
    assert not port_is_listening(port)
    assert server_processes() == []


def test_serving_twice_keeps_one_server(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri)
    model.serve()
    try:
        first_port = model.port
        model.serve()
        assert model.port == first_port
        assert len([p for p in server_processes() if "llama-server" in p.name()]) == 1
    finally:
        model.stop()
    assert server_processes() == []


def test_serve_again_after_stop_gives_a_working_server(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri, max_tokens=4)
    with model:
        _assert_reply(model.chat("one"))
    with model:
        _assert_reply(model.chat("two"))
    assert server_processes() == []


def test_chat_after_stop_raises_runtime_error(model_uri: str) -> None:
    model = RamalamaModel(model=model_uri)
    with pytest.raises(RuntimeError, match="serve"):
        model.chat("Hello")
    with model:
        pass
    with pytest.raises(ServerNotRunningError):
        model.chat("Hello")


def test_options_reach_llama_server(model_uri: str, free_port: int) -> None:
    """temp=0 is greedy and is passed; threads=-1 becomes the core count."""
    model = RamalamaModel(
        model=model_uri, temp=0, max_tokens=5, ctx_size=512, port=free_port, threads=-1
    )
    with model:
        assert model.port == free_port
        server = model._server
        assert server is not None and server.popen is not None
        (llama,) = [
            c
            for c in psutil.Process(server.popen.pid).children(recursive=True)
            if "llama-server" in c.name()
        ]
        cmdline = llama.cmdline()
        assert float(cmdline[cmdline.index("--temp") + 1]) == 0.0
        assert cmdline[cmdline.index("-n") + 1] == "5"
        assert cmdline[cmdline.index("--ctx-size") + 1] == "512"
        assert cmdline[cmdline.index("--host") + 1] == "127.0.0.1"
        assert "--threads" in cmdline
        # Greedy decoding is deterministic: the same prompt, the same reply.
        first = model.chat("Hello")
        assert model.chat("Hello") == first


def test_concurrent_chat_from_threads(model_uri: str) -> None:
    replies: list[ChatMessage] = []
    errors: list[BaseException] = []

    with RamalamaModel(model=model_uri, max_tokens=8) as model:

        def worker(index: int) -> None:
            try:
                for turn in range(3):
                    replies.append(model.chat(f"thread {index} turn {turn}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(replies) == 18
    for reply in replies:
        _assert_reply(reply)


def test_runtime_args_reach_llama_server(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, runtime_args=["--parallel", "3"]) as model:
        assert any("n_slots = 3" in line for line in model.logs(200)), model.logs(200)
        assert model.chat("Hi", max_tokens=2)["role"] == "assistant"
