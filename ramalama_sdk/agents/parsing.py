"""``parse()``: a reply validated into a pydantic model, re-asking on failure.

The reply is constrained by the model's JSON schema (the server turns it into
a grammar), then validated by pydantic, which also checks what a schema
cannot say (validators, ranges a grammar does not enforce). With
``retries=N`` a reply that fails is shown to the model again with the
validation error, up to N more times. Pure: a driver performs the requests.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import caller
from ..errors import ParseError, ReplyCutOffError
from ..http.images import with_images
from ..http.protocol import check_options, prompt_messages
from ..tools.definitions import readable_error
from ..types import ChatMessage, Completion

if TYPE_CHECKING:
    import pydantic

M = TypeVar("M", bound="pydantic.BaseModel")


@dataclass(frozen=True)
class ParseAttempt:
    """One reply that did not validate, and why."""

    reply: str
    error: str


@dataclass(frozen=True)
class ParseAsk:
    """Step: send ``messages`` with ``options``; answer with the Completion."""

    messages: list[ChatMessage]
    options: dict[str, Any]


def schema_argument(
    schema: type[M] | None, options: Mapping[str, Any]
) -> tuple[type[M], dict[str, Any]]:
    """``parse()``'s pydantic class, given as ``schema`` (or, as before, as
    ``model=``, which now warns), and the options left.

    ``model=`` names the served model wherever else it is a keyword (a
    router's ``chat(model=...)``), so the class has a name of its own.
    """
    rest = dict(options)
    if "model" in rest:
        old = rest.pop("model")
        if schema is not None:
            raise TypeError("parse() got both schema and model=: give the class as schema")
        caller.warn(
            "parse(model=...) is deprecated: give the pydantic class as schema= "
            "(or as the second argument)",
            DeprecationWarning,
        )
        schema = old
    if schema is None:
        raise TypeError("parse() needs a pydantic class, e.g. parse('Name a city.', City)")
    return schema, rest


def prepare_parse(
    prompt: str | Sequence[ChatMessage],
    history: Sequence[ChatMessage] | None,
    model: type[M],
    retries: int,
    options: Mapping[str, Any],
) -> tuple[list[ChatMessage], dict[str, Any]]:
    """Check everything before anything is sent; the messages of the first ask
    (``images`` joined to the last one) and the options left."""
    if not (isinstance(model, type) and callable(getattr(model, "model_validate_json", None))):
        raise TypeError(f"parse() needs a pydantic model class, not {model!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(f"retries must be an int >= 0, not {retries!r}")
    for name in ("response_format", "tools", "tool_choice"):
        if name in options:
            raise TypeError(f"parse() sets its own reply format: {name}= cannot be given")
    messages = prompt_messages(prompt, history)
    messages, rest = with_images(messages, options)
    check_options({**rest, "response_format": model})
    return messages, rest


def parse_steps(
    messages: list[ChatMessage], model: type[M], retries: int, options: Mapping[str, Any]
) -> Generator[ParseAsk, Completion, M]:
    """Ask, validate, re-ask with the error; return the instance or raise."""
    import pydantic

    asked = {**options, "response_format": model}
    attempts: list[ParseAttempt] = []
    conversation = list(messages)
    for _ in range(retries + 1):
        completion = yield ParseAsk(list(conversation), asked)
        reply = completion.content
        if completion.finish_reason == "length":
            what = "while thinking, before any answer" if completion.cut_off_while_thinking else ""
            attempts.append(ParseAttempt(reply, "cut off at max_tokens"))
            raise ReplyCutOffError(
                f"the reply was cut off at max_tokens {what}".rstrip()
                + f" after {completion.usage.completion_tokens} tokens; raise max_tokens",
                attempts=attempts,
            )
        try:
            return model.model_validate_json(reply)
        except pydantic.ValidationError as exc:
            error = readable_error(exc)
        attempts.append(ParseAttempt(reply, error))
        conversation += [
            ChatMessage(role="assistant", content=reply),
            ChatMessage(
                role="user",
                content=(
                    f"That reply does not fit {model.__name__}: {error}. "
                    "Reply again with corrected JSON only."
                ),
            ),
        ]
    tries = "try" if len(attempts) == 1 else f"{len(attempts)} tries"
    raise ParseError(
        f"no reply validated as {model.__name__} after {tries}; the last error: "
        f"{attempts[-1].error} (each reply and error is in .attempts)",
        attempts=attempts,
    )
