"""Server-sent events of a streamed chat, parsed without any I/O.

``SSEDecoder`` turns bytes, in whatever pieces the network delivers them,
into event payloads; ``StreamState`` turns payloads into text deltas and keeps
the assembled reply, finish reason, usage and timings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from ..engine_progress import EngineProgressCallback, prompt_progress
from ..errors import APIError
from ..types import ChatMessage, Completion, TokenLogprob, ToolCall, Usage
from . import replies
from .protocol import api_error, parse_timings, parse_usage

DONE = "[DONE]"


class SSEDecoder:
    """Incremental server-sent-events decoder: bytes in, ``data`` payloads out.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"a":1}\\n\\nda')
    ['{"a":1}']
    >>> decoder.feed(b'ta: [DONE]\\r\\n\\r\\n')
    ['[DONE]']
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        events: list[str] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                return events
            raw, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
            line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
            if not line:  # a blank line ends an event
                if self._data:
                    events.append("\n".join(self._data))
                    self._data = []
            elif line.startswith("data:"):
                value = line[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
            elif line.startswith("error:"):
                # llama-server reports a failure mid-stream on its own line.
                events.append(line)
            # Comments (":...") and other fields carry nothing for us.

    def flush(self) -> list[str]:
        """Payloads of an event left unterminated when the stream ended."""
        events = self.feed(b"\n\n") if self._buffer else []
        if self._data:
            events.append("\n".join(self._data))
            self._data = []
        return events


@dataclass(frozen=True)
class StreamEvent:
    """A piece of a streamed reply: answer text, or a thinking model's reasoning."""

    kind: Literal["content", "reasoning"]
    text: str


class StreamState:
    """What a stream has delivered so far.

    ``on_progress`` hears the prompt's progress events (see progress.py), and
    is closed once the prompt is processed.
    """

    def __init__(self, on_progress: EngineProgressCallback | None = None) -> None:
        self._on_progress = on_progress
        self._parts: list[str] = []
        self._reasoning: list[str] = []
        self._calls = replies.ToolCallAssembler()
        self._logprobs: list[TokenLogprob] | None = None
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.timings: dict[str, float] = {}
        self.done = False

    def add(self, payload: str) -> str | None:
        """Take one event payload; return its text delta, if any.

        >>> state = StreamState()
        >>> state.add('{"choices":[{"delta":{"role":"assistant","content":null}}]}')
        >>> state.add('{"choices":[{"delta":{"content":"Hi"}}]}')
        'Hi'
        >>> state.add('{"choices":[{"delta":{},"finish_reason":"stop"}]}')
        >>> state.add("[DONE]"), state.done, state.message
        (None, True, {'role': 'assistant', 'content': 'Hi'})
        """
        text = [e.text for e in self.add_events(payload) if e.kind == "content"]
        return text[0] if text else None

    def add_events(self, payload: str) -> list[StreamEvent]:
        """Take one event payload; return the reasoning and text it adds.

        >>> StreamState().add_events('{"choices":[{"delta":{"reasoning_content":"Hm"}}]}')
        [StreamEvent(kind='reasoning', text='Hm')]
        """
        if payload == DONE:
            self.done = True
            return []
        if payload.startswith("error:"):
            payload = payload[6:].strip()
        try:
            data = json.loads(payload)
        except ValueError:
            raise APIError(f"unreadable event in the stream: {payload[:200]}") from None
        if not isinstance(data, dict):
            raise APIError(f"unexpected event in the stream: {payload[:200]}")
        if "error" in data:
            error = data["error"]
            status = error.get("code") if isinstance(error, dict) else None
            raise api_error(status if isinstance(status, int) else 500, payload)
        if data.get("usage"):
            self.usage = parse_usage(data["usage"])
        if "timings" in data:
            self.timings = parse_timings(data["timings"])
        if self._on_progress is not None:
            self._report_progress(data)
        events: list[StreamEvent] = []
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            choice = choices[0]
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
            delta = choice.get("delta")
            if isinstance(delta, dict):
                reasoning = replies.parse_reasoning(delta)
                if reasoning:
                    self._reasoning.append(reasoning)
                    events.append(StreamEvent("reasoning", reasoning))
                content = delta.get("content")
                if isinstance(content, str) and content:
                    self._parts.append(content)
                    events.append(StreamEvent("content", content))
                self._calls.add(delta.get("tool_calls"))
            logprobs = replies.parse_logprobs(choice.get("logprobs"))
            if logprobs is not None:
                self._logprobs = (self._logprobs or []) + list(logprobs)
        return events

    def _report_progress(self, data: dict[str, object]) -> None:
        progress = prompt_progress(data)
        if progress is not None:
            assert self._on_progress is not None
            self._on_progress(progress)
        if progress is None or progress.done >= progress.total:
            self.end_progress()  # the prompt is in: its reports are over

    def end_progress(self) -> None:
        """Close the progress callback (idempotent): the stream has ended."""
        callback, self._on_progress = self._on_progress, None
        close = getattr(callback, "close", None)
        if callable(close):
            close()

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def reasoning(self) -> str | None:
        return "".join(self._reasoning) or None

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return self._calls.result()

    @property
    def message(self) -> ChatMessage:
        return replies.assistant_message(self.text, self.tool_calls, self.reasoning)

    def completion(self) -> Completion:
        logprobs = tuple(self._logprobs) if self._logprobs is not None else None
        return Completion(
            message=self.message,
            finish_reason=self.finish_reason,
            usage=self.usage,
            timings=dict(self.timings),
            tool_calls=self.tool_calls,
            reasoning=self.reasoning,
            logprobs=logprobs,
        )
