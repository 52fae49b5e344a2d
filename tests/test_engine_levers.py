"""Speculative decoding, load and prompt progress, idle sleep: on the real stack.

The tiny model of ramalama_sdk.testing, served by the real llama-server
through real ramalama. What the server did is read from its own command
line, log, ``/props`` and reply timings; nothing here depends on its speed.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import llama_server_of, server_processes, wait_until
from ramalama_sdk import (
    AsyncRamalamaModel,
    ChatMessage,
    EngineProgress,
    RamalamaModel,
    list_models,
    running,
)
from ramalama_sdk import progress as progress_module

# Text that repeats: n-gram speculation drafts the next tokens from it.
REPEATED = "alpha beta gamma delta epsilon zeta eta theta " * 12
# Small batches, so that a prompt of a few hundred tokens comes in many.
SMALL_BATCHES = ("--batch-size", "32", "--ubatch-size", "32")
LONG_PROMPT = "the quick brown fox jumps over the lazy dog " * 40


def _repeat_task() -> list[ChatMessage]:
    return [{"role": "user", "content": f"Repeat this text exactly:\n{REPEATED}\n{REPEATED}"}]


def _flag_value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


# -- speculation -------------------------------------------------------


def test_ngram_speculation_reaches_the_server_and_reports_drafts(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0, speculation="ngram-mod") as model:
        argv = llama_server_of(model).cmdline()
        assert _flag_value(argv, "--spec-type") == "ngram-mod"
        completion = model.complete(_repeat_task(), max_tokens=200, seed=1)
    drafted = completion.timings.get("draft_n", 0)
    assert drafted > 0, completion.timings
    rate = completion.draft_acceptance
    assert rate is not None and 0 <= rate <= 1
    assert rate == completion.timings["draft_n_accepted"] / drafted


def test_without_speculation_no_drafts(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, temp=0) as model:
        assert "--spec-type" not in llama_server_of(model).cmdline()
        completion = model.complete(_repeat_task(), max_tokens=100, seed=1)
    assert "draft_n" not in completion.timings
    assert completion.draft_acceptance is None


async def test_draft_model_is_pulled_and_drafts_async(model_file: Path, tmp_path: Path) -> None:
    """The same tiny model as its own draft: greedy drafts it mostly accepts."""
    draft = tmp_path / "tiny-draft.gguf"
    shutil.copyfile(model_file, draft)
    model = AsyncRamalamaModel(model=model_file.as_uri(), temp=0, draft_model=draft, draft_max=4)
    await model.download()
    assert any("tiny-draft" in m.name for m in list_models()), list_models()
    await model.serve()
    try:
        argv = llama_server_of(model).cmdline()
        assert "tiny-draft" in (_flag_value(argv, "--model-draft") or "")
        assert _flag_value(argv, "--spec-draft-n-max") == "4"
        assert _flag_value(argv, "--spec-type") == "draft-simple"
        completion = await model.complete(_repeat_task(), max_tokens=64, seed=1)
    finally:
        await model.stop()
    rate = completion.draft_acceptance
    assert completion.timings.get("draft_n", 0) > 0, completion.timings
    assert rate is not None and rate > 0.5  # the draft is the model itself


def test_bad_speculation_options_are_refused_before_anything_runs() -> None:
    with pytest.raises(ValueError, match="ngram_simple"):
        RamalamaModel(model="tinyllama", speculation="ngram_simple")
    with pytest.raises(ValueError, match="needs a draft_model"):
        RamalamaModel(model="tinyllama", speculation="draft-simple")
    with pytest.raises(TypeError, match="speculation"):
        AsyncRamalamaModel(model="tinyllama", speculation=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="draft_min"):
        RamalamaModel(model="tinyllama", draft_model="x", draft_min=5, draft_max=2)
    with pytest.raises(ValueError, match=r"llama\.cpp only"):
        RamalamaModel(model="tinyllama", runtime="vllm", sleep_after=60)
    with pytest.raises(ValueError, match="sleep_after"):
        RamalamaModel(model="tinyllama", sleep_after=0)
    with pytest.raises(TypeError, match="progress"):
        RamalamaModel(model="tinyllama", progress="yes")  # type: ignore[arg-type]
    assert server_processes() == []


# -- progress ----------------------------------------------------------


def _check_prompt_progress(events: list[EngineProgress], prompt_tokens: int) -> None:
    prompt = [e for e in events if e.stage == "prompt"]
    assert len(prompt) >= 3, prompt  # the first report, some batches, the last
    done = [e.done for e in prompt]
    assert done == sorted(done) and done[0] < done[-1]
    assert prompt[-1].done == prompt[-1].total == prompt_tokens


def _check_load_progress(events: list[EngineProgress]) -> None:
    load = [e for e in events if e.stage == "load"]
    done = [e.done for e in load]
    assert done == sorted(set(done)) and len(done) >= 3, load  # stages from the log
    assert load[0].detail == "reading the model", load
    assert load[-1].done == load[-1].total and load[-1].detail == "ready", load


def test_progress_of_the_load_and_of_a_long_prompt(model_uri: str) -> None:
    events: list[EngineProgress] = []
    with RamalamaModel(
        model=model_uri, max_tokens=4, progress=events.append, runtime_args=SMALL_BATCHES
    ) as model:
        _check_load_progress(events)
        events.clear()
        completion = model.complete([{"role": "user", "content": LONG_PROMPT}], max_tokens=4)
        _check_prompt_progress(events, completion.usage.prompt_tokens)
        events.clear()
        for _ in model.stream(LONG_PROMPT + " again", max_tokens=2):
            pass
        assert [e for e in events if e.stage == "prompt"][-1].fraction == 1.0


async def test_progress_async(model_uri: str) -> None:
    events: list[EngineProgress] = []
    model = AsyncRamalamaModel(
        model=model_uri, max_tokens=4, progress=events.append, runtime_args=SMALL_BATCHES
    )
    async with model:
        _check_load_progress(events)
        events.clear()
        # A short reply is sent in one piece unless progress is wanted.
        reply = await model.complete([{"role": "user", "content": LONG_PROMPT}], max_tokens=2)
        _check_prompt_progress(events, reply.usage.prompt_tokens)


def test_no_progress_asked_without_a_callback(model_uri: str) -> None:
    """progress=None (and the default where no bar can be seen) asks nothing."""
    with RamalamaModel(model=model_uri, max_tokens=4, progress=None) as model:
        body = model._complete_body([{"role": "user", "content": "Hi"}], {}, stream=True)
        assert b"return_progress" not in body
        assert model.chat(LONG_PROMPT)["role"] == "assistant"


class _TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_default_bars_in_a_terminal(model_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """By default, where stderr is a terminal: a bar for the load and for a prompt."""
    stream = _TerminalStream()
    monkeypatch.setattr(sys, "stderr", stream)
    # The bar waits BAR_DELAY before it shows; the tiny model is faster than that.
    monkeypatch.setattr(progress_module, "BAR_DELAY", 0)
    with RamalamaModel(model=model_uri, max_tokens=4, runtime_args=SMALL_BATCHES) as model:
        loaded = stream.getvalue()
        assert b"return_progress" in model._complete_body(
            [{"role": "user", "content": "Hi"}], {}, stream=True
        )
        for _ in model.stream(LONG_PROMPT):
            pass
    assert ": loading" in loaded and "/5" in loaded, loaded  # the load's stages
    drawn = stream.getvalue()[len(loaded) :]
    assert ": prompt" in drawn and " tok" in drawn, drawn


# -- idle sleep --------------------------------------------------------


def test_sleep_after_idle_and_wake_on_the_next_call(model_uri: str) -> None:
    with RamalamaModel(model=model_uri, max_tokens=4, sleep_after=1) as model:
        assert _flag_value(llama_server_of(model).cmdline(), "--sleep-idle-seconds") == "1"
        assert model.chat("Hello")["role"] == "assistant"
        assert wait_until(lambda: model.is_sleeping, timeout=60), model.logs(20)
        assert model.info().sleeping is True  # /props answers without waking it
        assert model.is_sleeping  # ... and so it still sleeps
        assert model in running() and "asleep" in repr(model)
        assert model.chat("Wake up")["role"] == "assistant"
        assert not model.is_sleeping
        assert model.info().sleeping is False
    assert server_processes() == []


async def _until(condition: Callable[[], bool], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_sleep_and_wake_async(model_uri: str) -> None:
    async with AsyncRamalamaModel(model=model_uri, max_tokens=4, sleep_after=1) as model:
        assert await _until(lambda: model.is_sleeping), model.logs(20)
        assert (await model.info()).sleeping is True
        reply = await model.chat("Wake up")
        assert reply["role"] == "assistant"
        assert not model.is_sleeping
    assert server_processes() == []
