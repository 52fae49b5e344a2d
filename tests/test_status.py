"""status() and metrics(): what a served model costs and does, on the real stack.

Memory is read from the real process tree (psutil), slots from the real
llama-server, which is frozen with SIGSTOP mid-reply (after its own
``processing task`` log line) to show that status() does not wait behind a
server that cannot answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import psutil
import pytest

from conftest import freeze_when_busy, llama_server_of, started_replies, wait_until
from podman_bed import Bed
from ramalama_sdk import (
    AsyncRamalamaModel,
    RamalamaModel,
    ServerNotRunningError,
    ServerStatus,
    UnsupportedError,
    running,
)
from ramalama_sdk.process.usage import parse_stats_memory

CTX = 1024
PROMPT_TOKENS = "llamacpp:prompt_tokens_total"
PREDICTED_TOKENS = "llamacpp:tokens_predicted_total"
# The prompt tokens the server took from its cache instead of reading them.
CACHED_TOKENS = "llamacpp:prompt_tokens_cached_total"


def _prompt_tokens(figures: dict[str, float]) -> float:
    return figures[PROMPT_TOKENS] + figures[CACHED_TOKENS]


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, ctx_size=CTX, temp=0, metrics=True) as served:
        yield served


def _tree_rss(pid: int) -> tuple[int, list[int]]:
    root = psutil.Process(pid)
    each = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
    return sum(each), each


def _check_idle(status: ServerStatus, model: RamalamaModel | AsyncRamalamaModel) -> None:
    server = model._server
    assert server is not None and server.popen is not None
    assert status.model == model.model
    assert status.pid == server.popen.pid
    assert status.port == model.port
    assert status.container is None and status.container_memory is None
    assert status.uptime is not None and status.uptime > 0
    assert status.context_size == CTX
    assert status.slots is not None and status.slots >= 1
    assert status.busy_slots == 0
    # The whole tree, not its root alone: ramalama and its llama-server.
    total, each = _tree_rss(server.popen.pid)
    assert len(each) >= 2
    assert status.memory is not None and status.memory > max(each)
    assert abs(status.memory - total) < total * 0.2  # RSS moves a little between reads


def test_status_of_a_served_model(model: RamalamaModel) -> None:
    _check_idle(model.status(), model)
    assert model in running()
    assert [m.status().pid for m in running() if m is model] == [model.status().pid]


def test_status_through_connect_has_no_processes(model: RamalamaModel) -> None:
    assert model.base_url is not None
    remote = RamalamaModel.connect(model.base_url, api_key=model.api_key)
    try:
        status = remote.status()
        assert remote.metrics()[PROMPT_TOKENS] == model.metrics()[PROMPT_TOKENS]
    finally:
        remote.stop()
    assert model.is_running  # that server is not this object's to stop
    # No process of this one's: nothing to measure, but the server's figures.
    assert (status.pid, status.memory, status.uptime, status.container) == (None,) * 4
    assert status.context_size == CTX and status.busy_slots == 0


def test_status_of_a_stopped_model_is_an_error(model_uri: str) -> None:
    stopped = RamalamaModel(model=model_uri)
    with pytest.raises(ServerNotRunningError):
        stopped.status()


def test_status_counts_a_busy_slot_and_does_not_wait_for_a_frozen_server(
    model: RamalamaModel,
) -> None:
    model.status()  # context and slots are known from now on
    llama = llama_server_of(model)
    since = started_replies(model)
    stream = model.stream("Go on", max_tokens=1500)
    reader = threading.Thread(target=lambda: [None for _ in stream])
    reader.start()
    statuses: list[ServerStatus] = []
    try:
        _freeze(model, llama, since)
        # Frozen, the server answers nothing: status() gives up on it after
        # its own short timeout, not the model's request_timeout (600 s).
        asker = threading.Thread(target=lambda: statuses.append(model.status()))
        asker.start()
        asker.join(timeout=120)
        assert not asker.is_alive()
        (frozen,) = statuses
        assert frozen.busy_slots is None
        assert frozen.context_size == CTX  # known from before, not asked again
        assert frozen.memory is not None and frozen.memory > 0
        # Asked while frozen and answered once thawed, in the middle of the reply.
        connections = _connections_to(model.port)
        asker = threading.Thread(target=lambda: statuses.append(model.status()))
        asker.start()
        assert wait_until(lambda: _connections_to(model.port) > connections, timeout=60)
        llama.resume()
        asker.join(timeout=120)
        assert statuses[1].busy_slots == 1
    finally:
        llama.resume()
        reader.join()
    assert stream.done
    assert model.status().busy_slots == 0


def _freeze(model: object, llama: psutil.Process, since: int) -> None:
    """SIGSTOP the server mid-reply, and wait until it has taken effect (the
    signal is delivered after kill() returns)."""
    freeze_when_busy(model, llama, since)
    assert wait_until(lambda: llama.status() == psutil.STATUS_STOPPED, timeout=30)


def _connections_to(port: int | None) -> int:
    return sum(
        1
        for c in psutil.Process().net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )


def test_metrics_count_the_tokens_of_a_request(model: RamalamaModel) -> None:
    before = model.metrics()
    reply = model.complete([{"role": "user", "content": "metrics 7 3 1 9"}], max_tokens=5)
    after = model.metrics()
    # Read, or taken from the cache (the chat template's start, seen before).
    assert _prompt_tokens(after) - _prompt_tokens(before) == reply.usage.prompt_tokens
    assert after[PROMPT_TOKENS] > before[PROMPT_TOKENS]
    assert after[PREDICTED_TOKENS] - before[PREDICTED_TOKENS] == reply.usage.completion_tokens
    assert all(isinstance(value, float) for value in after.values())


def test_metrics_without_the_option_is_unsupported(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, ctx_size=256) as plain:
        with pytest.raises(UnsupportedError, match="metrics=True") as info:
            plain.metrics()
        assert isinstance(info.value, NotImplementedError)
        assert plain.chat("Hi", max_tokens=2)["role"] == "assistant"  # still serving


@pytest.mark.parametrize(
    ("options", "error"),
    [({"metrics": "yes"}, TypeError), ({"metrics": True, "runtime": "vllm"}, ValueError)],
)
def test_bad_metrics_option(model_uri: str, options: dict[str, object], error: type) -> None:
    with pytest.raises(error, match="metrics"):
        RamalamaModel(model=model_uri, **options)  # type: ignore[arg-type]


def test_status_and_metrics_async(model_uri: str) -> None:
    async def main() -> None:
        async with AsyncRamalamaModel(
            model=model_uri, ctx_size=CTX, temp=0, metrics=True
        ) as served:
            _check_idle(await served.status(), served)
            before = await served.metrics()
            reply = await served.complete(
                [{"role": "user", "content": "async metrics 4 8 2"}], max_tokens=5
            )
            after = await served.metrics()
            grew = _prompt_tokens(after) - _prompt_tokens(before)
            assert grew == reply.usage.prompt_tokens
            predicted = after[PREDICTED_TOKENS] - before[PREDICTED_TOKENS]
            assert predicted == reply.usage.completion_tokens

    asyncio.run(main())


def test_status_async_does_not_wait_for_a_frozen_server(model_uri: str) -> None:
    async def main() -> None:
        async with AsyncRamalamaModel(model=model_uri, ctx_size=CTX, temp=0) as served:
            await served.status()
            llama = llama_server_of(served)
            since = started_replies(served)
            stream = served.stream("Go on", max_tokens=1500)

            async def read() -> None:
                async for _ in stream:
                    pass

            reader = asyncio.ensure_future(read())
            try:
                await asyncio.to_thread(_freeze, served, llama, since)
                frozen = await asyncio.wait_for(served.status(), timeout=120)
                assert frozen.busy_slots is None
                assert frozen.context_size == CTX
            finally:
                llama.resume()
            await reader
            assert (await served.status()).busy_slots == 0

    asyncio.run(main())


@pytest.mark.container
def test_status_in_a_container(podman_bed: Bed, model_uri: str) -> None:
    with RamalamaModel(
        model=model_uri, container=True, base_image=podman_bed.image, ctx_size=CTX
    ) as served:
        server = served._server
        assert server is not None and server.name is not None
        status = served.status()
        assert status.container == server.name
        assert status.context_size == CTX and status.busy_slots == 0
        assert status.memory is not None and status.memory > 0
        # The container's own use, as the engine reports it (its cgroup).
        said = podman_bed.run("stats", "--no-stream", "--format", "json", server.name)
        assert said.returncode == 0, said.stderr
        reported = parse_stats_memory(said.stdout)
        assert reported is not None and status.container_memory is not None
        assert abs(status.container_memory - reported) < reported * 0.5
    assert podman_bed.containers(server.name) == []
