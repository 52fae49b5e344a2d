"""The server's refusals that deserve an error of their own: pure functions.

``protocol.api_error`` reads an error body; this module decides which
exception it becomes. A prompt longer than the context becomes a
``ContextLengthError`` carrying both numbers, whichever server said it
(llama-server gives them as fields, vLLM only in its message); a feature the
server was not started for, or the model cannot do, an ``UnsupportedError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import APIError, ContextLengthError, UnsupportedError

# llama-server: "request (300 tokens) exceeds the available context size
# (256 tokens), try increasing it" and "input (300 tokens) is larger than the
# max context size (256 tokens). skipping".
_LLAMA_CONTEXT = re.compile(r"\((\d+) tokens\) (?:exceeds|is larger than)[^(]*\((\d+) tokens\)")
# llama-server, for embeddings and rerank: "input (600 tokens) is too large
# to process. increase the physical batch size (current batch size: 512)".
_LLAMA_BATCH = re.compile(r"\((\d+) tokens\) is too large to process.*batch size: (\d+)", re.S)
# vLLM: "This model's maximum context length is 2048 tokens. However, you
# requested 3000 tokens (...)" or "... your request has 3000 input tokens".
_VLLM_CONTEXT = re.compile(
    r"maximum context length is (\d+) tokens.*?(?:requested|has) (\d+)(?: input)? tokens", re.S
)
_UNSUPPORTED = (
    "not_supported_error",
    "image input is not supported",
    "does not support multimodal",
    "is not OAI compatible",
)

_HINTS = {
    "support embeddings": ": serve the model with embedding=True",
    "support reranking": ": serve a reranker model with rerank=True",
    "image input is not supported": (
        ": the served model takes no images (no vision projector, mmproj, is loaded)"
    ),
    "does not support multimodal": ": the served model takes no images",
    "is not OAI compatible": (
        ": the model declares no pooling for embeddings; serve it with pooling='mean' "
        "(or 'cls', 'last')"
    ),
}


def classify(status: int | None, message: str, body: object) -> APIError:
    """The most specific APIError for an error answer.

    >>> err = classify(400, "request (300 tokens) exceeds the available context "
    ...                "size (256 tokens), try increasing it (exceed_context_size_error)", None)
    >>> type(err).__name__, err.prompt_tokens, err.limit
    ('ContextLengthError', 300, 256)
    >>> type(classify(501, "no (not_supported_error)", None)).__name__
    'UnsupportedError'
    >>> type(classify(500, "boom", None)).__name__
    'APIError'
    """
    fields = _error_fields(body)
    tokens, limit = _int(fields.get("n_prompt_tokens")), _int(fields.get("n_ctx"))
    if fields.get("type") == "exceed_context_size_error" or tokens is not None:
        if tokens is None or limit is None:
            tokens, limit = _numbers(_LLAMA_CONTEXT, message) or (tokens, limit)
        return _too_long(message, tokens, limit, "context", status, body)
    if found := _numbers(_LLAMA_CONTEXT, message):
        return _too_long(message, *found, "context", status, body)
    if found := _numbers(_LLAMA_BATCH, message):
        return _too_long(message, *found, "batch", status, body)
    if found := _numbers(_VLLM_CONTEXT, message):
        limit, tokens = found
        return _too_long(message, tokens, limit, "context", status, body)
    if any(marker in message for marker in _UNSUPPORTED):
        hint = next((h for marker, h in _HINTS.items() if marker in message), "")
        return UnsupportedError(message + hint, status=status, body=body)
    return APIError(message, status=status, body=body)


def _too_long(
    message: str,
    tokens: int | None,
    limit: int | None,
    kind: str,
    status: int | None,
    body: object,
) -> ContextLengthError:
    said = f"the input is {_count(tokens)} long, and the {kind} holds {_count(limit)}"
    if kind == "context":
        said += " (a larger ctx_size, or a shorter prompt or history)"
    else:
        said += " (a shorter text, or a larger --batch-size and --ubatch-size in runtime_args)"
    return ContextLengthError(
        f"{message}: {said}",
        prompt_tokens=tokens,
        limit=limit,
        limit_kind=kind,
        status=status,
        body=body,
    )


def _count(value: int | None) -> str:
    return "an unknown number of tokens" if value is None else f"{value} tokens"


def _error_fields(body: object) -> Mapping[str, object]:
    if isinstance(body, Mapping):
        error = body.get("error", body)
        if isinstance(error, Mapping):
            return error
    return {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _numbers(pattern: re.Pattern[str], message: str) -> tuple[int, int] | None:
    found = pattern.search(message)
    return (int(found.group(1)), int(found.group(2))) if found else None
