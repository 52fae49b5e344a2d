"""``classify()`` and ``score()``: a choice among labels, with a probability each.

Pure: the requests and the arithmetic. Each label is scored by what the
model itself gives it: the label's own tokens (the model's tokenization of
it, as it would begin the reply) are forced one by one with a token-level
grammar, and llama-server reports each forced token's log-probability from
the model's raw distribution, before the grammar. Their sum is the label's
log-probability after the prompt; normalised over the labels, the
probabilities sum to 1. One short request per label; the prompt is the same
for each, so the server's prompt cache serves all but the first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import APIError
from ..http import protocol
from ..types import ChatMessage, Completion, TokenLogprob

DEFAULT_INSTRUCTION = "Classify the text."
YES, NO = "Yes", "No"
MAX_LABELS = 64
MAX_LABEL_TOKENS = 64


@dataclass(frozen=True)
class Classification:
    """The label the model prefers, and the probability of each label.

    ``probabilities`` sum to 1 over the labels given; ``logprobs`` are the
    labels' log-probabilities after the prompt, before that normalisation.
    """

    label: str
    probabilities: dict[str, float]
    logprobs: dict[str, float]


def check_labels(labels: object) -> list[str]:
    """Two or more distinct, non-empty labels.

    >>> check_labels(["spam", "ham"])
    ['spam', 'ham']
    >>> check_labels(["spam"])
    Traceback (most recent call last):
    ...
    ValueError: labels must hold at least two labels
    """
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise TypeError("labels must be a list of str, e.g. ['positive', 'negative']")
    if not all(isinstance(label, str) for label in labels):
        raise TypeError("labels must be a list of str")
    checked = list(labels)
    if len(checked) < 2:
        raise ValueError("labels must hold at least two labels")
    if len(checked) > MAX_LABELS:
        raise ValueError(f"labels must hold at most {MAX_LABELS} labels, not {len(checked)}")
    if not all(label.strip() for label in checked):
        raise ValueError("labels must not be empty or blank")
    if len(set(checked)) != len(checked):
        raise ValueError("labels must be distinct")
    return checked


def prompt_messages(
    text: str,
    labels: Sequence[str],
    instruction: str,
    history: Sequence[ChatMessage] | None = None,
) -> list[ChatMessage]:
    """The conversation whose reply is scored: the history, then one question.

    >>> prompt_messages("Great!", ["positive", "negative"], "The sentiment?")[0]["content"]
    'The sentiment? Answer with exactly one of: positive, negative.\\n\\nGreat!'
    """
    if not isinstance(instruction, str) or not instruction.strip():
        raise TypeError("instruction must be a non-empty str")
    question = f"{instruction} Answer with exactly one of: {', '.join(labels)}.\n\n"
    return protocol.chat_messages(question + protocol.check_message(text), history)


def forced_body(model: str, messages: Sequence[ChatMessage], token_ids: Sequence[int]) -> bytes:
    """A request whose reply is exactly these tokens, with their log-probabilities.

    >>> forced_body("m", [{"role": "user", "content": "Hi"}], [12, 7])  # doctest: +ELLIPSIS
    b'{"model":"m",...,"max_tokens":2,...,"grammar":"root ::= <[12]> <[7]>"}'
    """
    if not token_ids:
        raise ValueError("a label must have at least one token")
    if len(token_ids) > MAX_LABEL_TOKENS:
        raise ValueError(f"a label must be at most {MAX_LABEL_TOKENS} tokens long")
    grammar = "root ::= " + " ".join(f"<[{int(token)}]>" for token in token_ids)
    options = {
        "max_tokens": len(token_ids),
        "temperature": 0,
        "logprobs": True,
        "grammar": grammar,
    }
    return protocol.chat_body(model, messages, options)


def label_logprob(label: str, completion: Completion, tokens: int) -> float:
    """The label's log-probability, from the forced reply's token log-probs."""
    scored: Sequence[TokenLogprob] = completion.logprobs or []
    if completion.content != label or len(scored) != tokens:
        raise APIError(
            f"the server did not score the label {label!r} (it replied "
            f"{completion.content!r} with {len(scored)} log-probs for {tokens} tokens); "
            "classify() needs a llama-server that takes token grammars and logprobs"
        )
    return math.fsum(item.logprob for item in scored)


def classification(logprobs: Mapping[str, float]) -> Classification:
    """Normalise the labels' log-probabilities into probabilities that sum to 1.

    >>> result = classification({"a": math.log(0.3), "b": math.log(0.1)})
    >>> result.label, round(result.probabilities["a"], 6), round(result.probabilities["b"], 6)
    ('a', 0.75, 0.25)
    """
    top = max(logprobs.values())
    weights = {label: math.exp(value - top) for label, value in logprobs.items()}
    total = math.fsum(weights.values())
    probabilities = {label: weight / total for label, weight in weights.items()}
    best = max(probabilities, key=lambda label: probabilities[label])
    return Classification(best, probabilities, dict(logprobs))
