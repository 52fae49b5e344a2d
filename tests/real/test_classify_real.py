"""classify() and score() on a real model (SmolLM2-135M-Instruct, from PyPI).

A 135M model is weak and leans to "No" on yes/no questions, so the cases are
those it gets right every time, at temperature 0: plain sentiment, the
colour of grass, the topic of a sentence about a cat. The probabilities come
from the model's own token log-probabilities; they sum to 1.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator

import pytest

from ramalama_sdk import AsyncRamalamaModel, RamalamaModel
from ramalama_sdk.testing import real_chat_model

SENTIMENT = "Classify the sentiment of the text."


@pytest.fixture(scope="module")
def uri() -> str:
    return real_chat_model(progress=None).as_uri()


@pytest.fixture(scope="module")
def served(uri: str) -> Iterator[RamalamaModel]:
    with RamalamaModel(model=uri, threads=1) as model:
        yield model


@pytest.fixture
async def aserved(uri: str) -> AsyncIterator[AsyncRamalamaModel]:
    async with AsyncRamalamaModel(model=uri, threads=1) as model:
        yield model


@pytest.mark.parametrize(
    ("text", "labels", "instruction", "expected"),
    [
        ("What a fantastic, delightful day!", ["positive", "negative"], SENTIMENT, "positive"),
        ("This is awful and I am very angry.", ["positive", "negative"], SENTIMENT, "negative"),
        ("What color is grass?", ["green", "purple"], "Answer the question.", "green"),
        (
            "The cat sat on the mat and purred.",
            ["animals", "finance", "sports"],
            "What is the topic of the text?",
            "animals",
        ),
    ],
)
def test_an_obvious_case_wins(
    served: RamalamaModel, text: str, labels: list[str], instruction: str, expected: str
) -> None:
    result = served.classify(text, labels, instruction=instruction)
    assert result.label == expected, result
    assert list(result.probabilities) == labels
    assert math.isclose(sum(result.probabilities.values()), 1.0, abs_tol=1e-9)
    assert result.probabilities[expected] > 0.5
    # The probabilities are the log-probabilities, normalised.
    assert all(value < 0 for value in result.logprobs.values())
    total = math.fsum(math.exp(v) for v in result.logprobs.values())
    for label in labels:
        assert math.isclose(
            result.probabilities[label], math.exp(result.logprobs[label]) / total, rel_tol=1e-9
        )


def test_score_is_the_probability_of_yes(served: RamalamaModel) -> None:
    question = "Is this review positive? 'I love this phone, it is wonderful!'"
    score = served.score(question)
    both = served.classify(question, ["Yes", "No"], instruction="Answer the question.")
    assert 0 < score < 1 and math.isclose(score, both.probabilities["Yes"], rel_tol=1e-6)


def test_labels_are_checked_before_anything_is_sent(served: RamalamaModel) -> None:
    with pytest.raises(ValueError, match="at least two"):
        served.classify("x", ["only"])
    with pytest.raises(ValueError, match="distinct"):
        served.classify("x", ["a", "a"])
    with pytest.raises(TypeError, match="list of str"):
        served.classify("x", "ab")


async def test_async_classify(aserved: AsyncRamalamaModel) -> None:
    result = await aserved.classify(
        "What a fantastic, delightful day!", ["positive", "negative"], instruction=SENTIMENT
    )
    assert result.label == "positive"
    assert math.isclose(sum(result.probabilities.values()), 1.0, abs_tol=1e-9)
    assert 0 < await aserved.score("Is water wet?") < 1
