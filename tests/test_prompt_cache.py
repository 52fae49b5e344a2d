"""Prompts that survive restarts (``prompt_cache``), on the real stack.

Proof that a prompt was restored is the server's own report: the
``timings.prompt_n`` of a reply counts the prompt tokens llama-server had to
process, which after a restore are only those past the saved prompt.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

from conftest import run_python, server_processes
from podman_bed import Bed
from ramalama_sdk import (
    AsyncRamalamaModel,
    PromptCacheWarning,
    RamalamaModel,
    ServerNotRunningError,
    UnsupportedError,
)
from ramalama_sdk.prompt_cache import states
from ramalama_sdk.stack.cache import file_sha256
from ramalama_sdk.types import ChatMessage

# About 900 tokens of the tiny model's vocabulary: a long system prompt.
SYSTEM = " ".join(["the time of day is what we can use for all of them"] * 36)


def conversation(question: str, system: str = SYSTEM) -> list[ChatMessage]:
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]


def processed(model: RamalamaModel, question: str, system: str = SYSTEM) -> int:
    """How many prompt tokens the server processed for this conversation."""
    result = model.complete(conversation(question, system), max_tokens=4, temperature=0)
    return int(result.timings["prompt_n"])


def cached(uri: str, folder: Path, **options: Any) -> RamalamaModel:
    return RamalamaModel(model=uri, prompt_cache=folder, **options)


def saved(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if states.parse_name(p.name) is not None)


def test_a_restart_restores_the_saved_prompt(model_uri: str, tmp_path: Path) -> None:
    with cached(model_uri, tmp_path) as model:
        cold = processed(model, "first question")
        warm = processed(model, "second question")
    assert warm < cold / 4  # the in-memory cache, for comparison
    assert len(saved(tmp_path)) == 1  # stop() saved the slot

    with RamalamaModel(model=model_uri) as model:  # a restart without the cache
        assert processed(model, "third question") > cold * 0.9

    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptCacheWarning)
        with cached(model_uri, tmp_path) as model:
            after_restart = processed(model, "third question")
    assert after_restart < cold / 4
    assert server_processes() == []


def test_async_restore_and_save_prompt_on_demand(model_uri: str, tmp_path: Path) -> None:
    async def main() -> tuple[int, int, list[Path], list[Path]]:
        async with AsyncRamalamaModel(model=model_uri, prompt_cache=tmp_path) as model:
            messages = conversation("first question")
            result = await model.complete(messages, max_tokens=4, temperature=0)
            cold = int(result.timings["prompt_n"])
            paths = await model.save_prompt()
            again = await model.save_prompt()  # the same state: the same file
        assert saved(tmp_path) == paths  # and stop() kept it as it was
        async with AsyncRamalamaModel(model=model_uri, prompt_cache=tmp_path) as model:
            messages = conversation("another question")
            result = await model.complete(messages, max_tokens=4, temperature=0)
            return cold, int(result.timings["prompt_n"]), paths, again

    cold, after_restart, paths, again = asyncio.run(main())
    assert len(paths) == 1 and paths == again and paths[0].parent == tmp_path
    assert after_restart < cold / 4


def test_a_state_of_another_context_size_is_skipped_with_a_warning(
    model_uri: str, tmp_path: Path
) -> None:
    with cached(model_uri, tmp_path, ctx_size=1024) as model:
        cold = processed(model, "first question")
    [state] = saved(tmp_path)
    with pytest.warns(PromptCacheWarning, match="another context size"):
        model = cached(model_uri, tmp_path, ctx_size=2048)
        model.serve()
    try:
        assert processed(model, "first question") >= cold - 1  # nothing restored
        assert model.chat("Hello", max_tokens=4)["content"] is not None
    finally:
        model.stop()
    assert state.exists()  # valid for a server with 1024 tokens of context


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_a_damaged_state_is_deleted_with_a_warning_and_the_server_serves(
    model_uri: str, tmp_path: Path, damage: str
) -> None:
    with cached(model_uri, tmp_path) as model:
        cold = processed(model, "first question")
    [state] = saved(tmp_path)
    data = bytearray(state.read_bytes())
    if damage == "corrupt":  # one byte of the KV cache: no header check sees it
        data[len(data) // 2] ^= 0xFF
    else:
        del data[len(data) // 2 :]
    state.write_bytes(bytes(data))

    with pytest.warns(PromptCacheWarning, match="truncated or corrupt"):
        model = cached(model_uri, tmp_path)
        model.serve()
    try:
        assert not state.exists()
        assert processed(model, "first question") >= cold - 1
        assert model.is_running
    finally:
        model.stop()


def test_the_size_cap_keeps_the_most_recently_used_states(model_uri: str, tmp_path: Path) -> None:
    with cached(model_uri, tmp_path) as model:
        processed(model, "q")
    [first] = saved(tmp_path)
    size = first.stat().st_size
    cap = size * 3 // 2  # room for one state, not two

    with cached(model_uri, tmp_path, prompt_cache_size=cap) as model:
        # Another prompt, in the slot the restored one is not in.
        processed(model, "q", system=SYSTEM.replace("time", "way"))
    [kept] = saved(tmp_path)
    assert kept != first

    small = cached(model_uri, tmp_path, prompt_cache_size=size // 2)
    with pytest.warns(PromptCacheWarning, match="does not fit in prompt_cache_size"), small:
        processed(small, "q")
    assert saved(tmp_path) == []


def test_two_processes_share_one_folder(model_uri: str, tmp_path: Path) -> None:
    code = f"""
import warnings
from ramalama_sdk import PromptCacheWarning, RamalamaModel
warnings.simplefilter("error", PromptCacheWarning)
for round in range(3):
    with RamalamaModel(model={model_uri!r}, prompt_cache={str(tmp_path)!r}) as model:
        for topic in ("time", "way", "word"):
            system = " ".join(["the " + topic + " of day is what we can use"] * 40)
            model.complete([{{"role": "system", "content": system}},
                            {{"role": "user", "content": "q" + str(round)}}], max_tokens=2)
        model.save_prompt()
print("ok")
"""
    children = [run_python(code, env=dict(os.environ)) for _ in range(2)]
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        assert out.strip() == "ok"
    states_left = saved(tmp_path)
    assert states_left
    for path in states_left:  # each intact: its content is what its name says
        parsed = states.parse_name(path.name)
        assert parsed is not None and file_sha256(path) == parsed[2]
    assert [p for p in tmp_path.iterdir() if p.name.startswith(states.TEMP_PREFIX)] == []


def test_a_model_left_serving_at_exit_saves_its_prompt(model_uri: str, tmp_path: Path) -> None:
    code = f"""
from ramalama_sdk import RamalamaModel
model = RamalamaModel(model={model_uri!r}, prompt_cache={str(tmp_path)!r})
model.serve()
model.chat("hello " * 50, max_tokens=2)
"""
    child = run_python(code, env=dict(os.environ))
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert len(saved(tmp_path)) == 1
    assert server_processes() == []


def test_save_prompt_needs_the_option_and_a_server(model_uri: str, tmp_path: Path) -> None:
    model = RamalamaModel(model=model_uri, prompt_cache=tmp_path)
    with pytest.raises(ServerNotRunningError):
        model.save_prompt()
    plain = RamalamaModel(model=model_uri)
    with plain, pytest.raises(UnsupportedError, match="without prompt_cache"):
        plain.save_prompt()


def test_the_option_is_checked(model_uri: str, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="prompt_cache"):
        RamalamaModel(model=model_uri, prompt_cache=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="comma"):
        RamalamaModel(model=model_uri, prompt_cache="/tmp/a,b")
    with pytest.raises(ValueError, match=r"llama\.cpp"):
        RamalamaModel(model=model_uri, prompt_cache=tmp_path, runtime="vllm")
    with pytest.raises(ValueError, match="prompt_cache_size"):
        RamalamaModel(model=model_uri, prompt_cache=tmp_path, prompt_cache_size=0)
    relative = RamalamaModel(model=model_uri, prompt_cache="prompts")
    assert relative.options.prompt_cache == os.path.abspath("prompts")
    assert RamalamaModel(model=model_uri, prompt_cache=False).options.prompt_cache is None


def test_true_is_the_user_cache_folder(
    model_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with RamalamaModel(model=model_uri, prompt_cache=True) as model:
        processed(model, "q")
    assert len(saved(tmp_path / "ramalama-sdk" / "prompts")) == 1


def test_a_folder_that_cannot_be_made_fails_serve_with_nothing_left(
    model_uri: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    model = RamalamaModel(model=model_uri, prompt_cache=blocker / "prompts")
    with pytest.raises(RuntimeError, match="prompt_cache folder"):
        model.serve()
    assert not model.is_running and server_processes() == []


@pytest.mark.container
def test_in_a_container_the_folder_is_mounted_and_a_restart_restores(
    podman_bed: Bed, model_uri: str, tmp_path: Path
) -> None:
    def in_podman(**options: Any) -> RamalamaModel:
        return RamalamaModel(
            model=model_uri, container=True, base_image=podman_bed.image, **options
        )

    with in_podman(prompt_cache=tmp_path) as model:
        cold = processed(model, "first question")
        [path] = model.save_prompt()  # written by llama-server inside the container
        assert path.parent == tmp_path
    with in_podman() as model:  # a restart without the cache
        assert processed(model, "second question") > cold * 0.9
    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptCacheWarning)
        with in_podman(prompt_cache=tmp_path) as model:
            assert processed(model, "second question") < cold / 4
