"""What a program gets alike from the sync and the async classes, on the real stack."""

from __future__ import annotations

from typing import Any

import pytest

from ramalama_sdk import RamalamaModel

# -- extra_body ------------------------------------------------------------------


def test_extra_body_cannot_turn_a_reply_into_a_broken_stream(model_uri: str) -> None:
    """A program passes its own request fields; ``stream`` is the SDK's."""
    with RamalamaModel(model=model_uri, max_tokens=4) as model:
        bodies: list[dict[str, Any]] = [{"stream": False}, {"stream": True}, {"stream_options": {}}]
        for body in bodies:
            with pytest.raises(ValueError, match="extra_body cannot set"):
                model.chat("Hi", extra_body=body)
            with pytest.raises(ValueError, match="extra_body cannot set"):
                model.complete_text("Hi", extra_body=body)
        reply = model.chat("Hi", extra_body={"max_tokens": 2, "n_probs": 0})
        assert reply["role"] == "assistant"
