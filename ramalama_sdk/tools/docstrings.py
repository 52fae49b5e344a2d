"""A function's docstring -> its description and one line per parameter (pure).

Three styles are read, the ones Python code uses in practice:

- Google: an ``Args:`` (or ``Arguments:``, ``Parameters:``) section of
  ``name (type): text`` lines;
- NumPy: a ``Parameters`` section underlined with dashes, ``name : type``
  lines followed by indented text;
- Sphinx: ``:param name: text`` or ``:param type name: text`` fields.

A description may continue on more-indented lines; it is joined into one.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

_GOOGLE_HEADERS = ("args:", "arguments:", "parameters:", "params:")
# Sections that end the summary, in any of the three styles.
_SECTION = re.compile(
    r"^\s*(args|arguments|parameters|params|returns?|yields?|raises|examples?|notes?|"
    r"see also|attributes|other parameters|warnings?|references)\s*:?\s*$",
    re.IGNORECASE,
)
_SPHINX_FIELD = re.compile(r"^\s*:(param|parameter|arg|argument|key|keyword)\s+([^:]+):\s*(.*)$")
_ANY_SPHINX_FIELD = re.compile(r"^\s*:\w+")
_GOOGLE_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ITEM = re.compile(r"^(\*{0,2}\w+)\s*(:.*)?$")


@dataclass(frozen=True)
class Docstring:
    """What a docstring says about a function."""

    description: str = ""
    params: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """The summary and the parameter descriptions of a docstring.

    >>> d = parse_docstring('''Add two numbers.
    ...
    ...     Args:
    ...         a (int): The first.
    ...         b: The second,
    ...             on two lines.
    ...     ''')
    >>> d.description, d.params
    ('Add two numbers.', {'a': 'The first.', 'b': 'The second, on two lines.'})
    >>> parse_docstring(":param str city: Where.\\n:returns: weather").params
    {'city': 'Where.'}
    """
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    params: dict[str, str] = {}
    summary: list[str] = []
    index = 0
    in_summary = True
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        lowered = stripped.lower()
        if lowered in _GOOGLE_HEADERS and not _is_underline(lines, index + 1):
            in_summary = False
            index = _google_section(lines, index + 1, params)
            continue
        if lowered in ("parameters", "other parameters", "params") and _is_underline(
            lines, index + 1
        ):
            in_summary = False
            index = _numpy_section(lines, index + 2, params)
            continue
        sphinx = _SPHINX_FIELD.match(line)
        if sphinx:
            in_summary = False
            index = _sphinx_field(lines, index, sphinx, params)
            continue
        if _SECTION.match(line) or _ANY_SPHINX_FIELD.match(line) or _is_underline(lines, index + 1):
            in_summary = False
        if in_summary:
            summary.append(stripped)
        index += 1
    return Docstring(_paragraphs(summary), params)


def _is_underline(lines: list[str], index: int) -> bool:
    if index >= len(lines):
        return False
    text = lines[index].strip()
    return len(text) >= 3 and set(text) <= {"-", "="}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _google_section(lines: list[str], index: int, params: dict[str, str]) -> int:
    """Read ``name (type): text`` items until the section's indentation ends."""
    base: int | None = None
    name: str | None = None
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        indent = _indent(line)
        if base is None:
            base = indent
        if indent < base or (indent == 0 and base == 0 and _SECTION.match(line)):
            break
        item = _GOOGLE_ITEM.match(line.strip()) if indent == base else None
        if item:
            name = item.group(1).lstrip("*")
            params[name] = item.group(3).strip()
        elif name is not None:
            params[name] = _join(params[name], line.strip())
        index += 1
    return index


def _numpy_section(lines: list[str], index: int, params: dict[str, str]) -> int:
    """Read ``name : type`` items, each followed by indented text."""
    name: str | None = None
    base: int | None = None
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        if _is_underline(lines, index + 1):
            break  # the next section's title
        indent = _indent(line)
        if base is None:
            base = indent
        if indent <= base:
            item = _NUMPY_ITEM.match(line.strip())
            if not item:
                break
            # "a, b : int" describes two parameters at once.
            names = [n.strip().lstrip("*") for n in item.group(1).split(",")]
            name = names[0]
            for each in names:
                params[each] = ""
        elif name is not None:
            params[name] = _join(params[name], line.strip())
        index += 1
    return index


def _sphinx_field(
    lines: list[str], index: int, match: re.Match[str], params: dict[str, str]
) -> int:
    words = match.group(2).split()
    name = words[-1].lstrip("*")  # ":param str city:" names the type first
    text = match.group(3).strip()
    index += 1
    while index < len(lines) and lines[index].strip() and _indent(lines[index]) > 0:
        text = _join(text, lines[index].strip())
        index += 1
    params[name] = text
    return index


def _join(first: str, more: str) -> str:
    return f"{first} {more}".strip() if first else more


def _paragraphs(lines: list[str]) -> str:
    """Lines joined into paragraphs: one space within, a blank line between."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line:
            current.append(line)
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    return "\n\n".join(paragraphs)
