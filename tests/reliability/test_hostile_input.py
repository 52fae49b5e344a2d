"""Property-based: whatever a caller passes, the answer is a clear error or a reply.

Each generated call either raises TypeError/ValueError before anything is
sent, or reaches the server and gives a reply or an APIError; the server stays
up and the next valid call succeeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ramalama_sdk import APIError, RamalamaModel

EXAMPLES = 150  # per property; each example that reaches the server costs ~10 ms

texts = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=50).map(lambda s: s + "\0"),
    st.sampled_from(["\ud800", "a\udfffb", "\x00" * 10, "\u202e\u200b", "🦙" * 20]),
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    texts,
)
roles = st.one_of(st.sampled_from(["system", "user", "assistant", "developer"]), anything)
valid_entries = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant"]), "content": st.text(max_size=50)}
)
entries = st.one_of(
    valid_entries,
    st.fixed_dictionaries({"role": roles, "content": st.one_of(texts, anything)}),
    st.fixed_dictionaries({"role": roles}),
    anything,
)
histories = st.one_of(
    st.none(), st.lists(valid_entries, max_size=3), st.lists(entries, max_size=4), anything
)
valid_options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "max_tokens": st.integers(1, 8),
        "top_p": st.floats(0, 1),
        "seed": st.integers(-(2**31), 2**31),
        "stop": st.lists(st.text(min_size=1, max_size=5), max_size=3),
    },
)
hostile_options = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.one_of(st.floats(-2, 3), anything),
        "max_tokens": st.one_of(st.integers(-3, 8), anything),
        "top_p": st.one_of(st.floats(-1, 2), anything),
        "seed": st.one_of(st.integers(-(2**40), 2**40), anything),
        "stop": st.one_of(st.lists(texts, max_size=3), anything),
        "bogus": anything,
    },
)
option_values = st.one_of(valid_options, hostile_options)
messages = st.one_of(st.text(max_size=200), texts, anything)


@pytest.fixture(scope="module")
def model(model_uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=model_uri, max_tokens=4, ctx_size=1024) as served:
        yield served


def _outcome(call: Any) -> str:
    try:
        call()
    except (TypeError, ValueError) as exc:
        assert str(exc), "an error must say what is wrong"
        return "refused"
    except APIError as exc:
        assert exc.status is not None and 400 <= exc.status < 500, exc
        return "api-error"
    return "reply"


def _storm(call: Any) -> Counter[str]:
    """Run ``call(message, history, options)`` on generated arguments."""
    outcomes: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(message=messages, history=histories, options=option_values)
    def one(message: Any, history: Any, options: Any) -> None:
        outcomes[_outcome(lambda: call(message, history, options))] += 1

    one()
    return outcomes


@pytest.mark.parametrize("method", ["chat", "stream"])
def test_anything_gives_a_reply_or_a_clear_error(model: RamalamaModel, method: str) -> None:
    if method == "chat":
        outcomes = _storm(lambda m, h, o: model.chat(m, h, **o))
    else:
        outcomes = _storm(lambda m, h, o: list(model.stream(m, h, **o)))
    print(method, dict(outcomes))  # shown with -s; the figures in README.md
    # Both ways were exercised: refused before sending, and answered.
    assert outcomes["refused"] > 0 and outcomes["reply"] > 0, outcomes
    assert sum(outcomes.values()) == EXAMPLES
    assert model.is_running and model.chat("Hello")["role"] == "assistant"


def test_a_one_megabyte_message_is_refused_by_the_server_not_the_client(
    model: RamalamaModel,
) -> None:
    with pytest.raises(APIError) as info:
        model.chat("x" * 1_000_000)
    assert info.value.status == 400
    assert model.chat("Hello")["role"] == "assistant"


def test_nul_bytes_travel_as_text(model: RamalamaModel) -> None:
    assert model.chat("a\0b\0c")["role"] == "assistant"
