"""Text completion for base models: ``POST /v1/completions``. Pure parts.

A base model (a GGUF without a chat template) continues text; it was never
taught a chat format, so ``chat()`` through a generic template makes it echo
the prompt and leak the template's markers. ``complete_text()`` sends the
prompt as it is and returns what the model writes after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..chat_options import merge_extra_body
from ..errors import APIError
from ..http.protocol import check_options, parse_timings, parse_usage
from ..http.streaming import DONE, StreamEvent, StreamState
from ..http.text import check_text
from ..types import Usage

COMPLETIONS_PATH = "/completions"  # under /v1


@dataclass(frozen=True)
class TextCompletion:
    """What ``complete_text()`` returns: the generated text (the prompt not
    included), why generation ended (``stop``, ``length``), usage, and the
    server's timings."""

    text: str
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float | None:
        """Generation speed as the server measured it, if it said."""
        return self.timings.get("predicted_per_second")


def completion_body(
    model: str, prompt: object, options: Mapping[str, object], *, stream: bool = False
) -> bytes:
    """The body of ``POST /v1/completions``; options as for ``chat()``.

    >>> completion_body("m", "Once upon a time", {"max_tokens": 8})
    b'{"model":"m","prompt":"Once upon a time","max_tokens":8}'
    """
    text = check_text(prompt, "prompt")
    if not text:
        raise ValueError("prompt must not be empty")
    payload: dict[str, object] = {"model": model, "prompt": text}
    chat_only = sorted({"tools", "tool_choice", "parallel_tool_calls"} & set(options))
    if chat_only:
        raise TypeError(f"text completion takes no tools ({', '.join(chat_only)}): use chat()")
    payload.update(check_options(options))
    if stream:
        payload["stream"] = True
        payload["stream_options"] = {"include_usage": True}
    merge_extra_body(payload)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def parse_text_completion(body: bytes | str) -> TextCompletion:
    """The result of a (non-streamed) ``/v1/completions`` answer.

    >>> parse_text_completion(b'{"choices":[{"text":" there","finish_reason":"length"}]}')
    TextCompletion(text=' there', finish_reason='length', usage=Usage(prompt_tokens=0, \
completion_tokens=0, total_tokens=0), timings={})
    """
    try:
        data = json.loads(body)
        choice = data["choices"][0]
        text = choice["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise APIError(f"unexpected completion answer: {str(body)[:300]}") from None
    if not isinstance(text, str):
        raise APIError(f"unexpected completion text: {str(body)[:300]}")
    return TextCompletion(
        text=text,
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(data.get("usage")),
        timings=parse_timings(data.get("timings")),
    )


class TextStreamState(StreamState):
    """A stream of text-completion events (``choices[0].text``), assembled."""

    def add_events(self, payload: str) -> list[StreamEvent]:
        """Each event read as a chat delta of its text (streams read events).

        >>> state = TextStreamState()
        >>> state.add('{"choices":[{"text":"Once","finish_reason":null}]}')
        'Once'
        >>> state.add('{"choices":[{"text":"","finish_reason":"stop"}]}'), state.finish_reason
        (None, 'stop')
        """
        if payload != DONE and not payload.startswith("error:"):
            try:
                data = json.loads(payload)
            except ValueError:
                data = None
            choices = data.get("choices") if isinstance(data, dict) else None
            if isinstance(choices, list) and choices and isinstance(choices[0], dict):
                choice = dict(choices[0])
                if "text" in choice:
                    choice["delta"] = {"content": choice.pop("text")}
                    payload = json.dumps({**data, "choices": [choice]})
        return super().add_events(payload)

    def result(self) -> TextCompletion:
        return TextCompletion(
            text=self.text,
            finish_reason=self.finish_reason,
            usage=self.usage,
            timings=dict(self.timings),
        )
