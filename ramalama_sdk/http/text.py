"""Text that can travel to llama-server: a str that UTF-8 can encode.

A lone surrogate (``"\\ud800"``, left by a bad decode or a JSON escape) is a
valid Python str, but cannot be sent as JSON to llama-server. Every text the
SDK sends is checked here before anything is sent, and the error names the
argument it came from.
"""

from __future__ import annotations


def check_unicode(text: str, what: str) -> None:
    """ValueError naming ``what`` unless UTF-8 can encode ``text``.

    >>> check_unicode("\\ud800", "prompt")
    Traceback (most recent call last):
    ...
    ValueError: prompt is not valid Unicode text: surrogates not allowed
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{what} is not valid Unicode text: {exc.reason}") from None


def check_text(text: object, what: str = "text") -> str:
    """``text``, once it is a str (else TypeError) that UTF-8 can encode.

    >>> check_text("Hi")
    'Hi'
    >>> check_text(b"Hi", "prompt")
    Traceback (most recent call last):
    ...
    TypeError: prompt must be a str, not bytes
    """
    if not isinstance(text, str):
        raise TypeError(f"{what} must be a str, not {type(text).__name__}")
    check_unicode(text, what)
    return text
