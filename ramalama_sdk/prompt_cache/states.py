"""Saved prompt states: what makes one valid, its file name, which to keep.

Pure functions. llama-server saves a slot (its prompt's tokens and their
KV cache) to a file in its ``--slot-save-path`` folder and restores it from
there. A state is only worth restoring into a server that computes the same
cache: the same model file, context size, cache types and llama-server
build. Those go into the file's name, with the SHA-256 of its content, so a
folder shared by several models, builds and processes needs no index:

    <model fingerprint>-<settings>-<sha256 of the file>.slot

A name never changes meaning (content-addressed), so two processes saving
the same state write the same name, and a rename is all a commit takes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".slot"
TEMP_PREFIX = ".saving-"
LOCK_NAME = ".lock"
# The model's fingerprint: its size, its first MiB (the GGUF header, the
# metadata, the tensor list) and blocks spread over the weights. Reading a
# multi-GB model whole at every serve() would cost seconds.
HEAD_BYTES = 2**20
BLOCK_BYTES = 2**16
BLOCKS = 16
# llama_state_seq_save_file: magic 'ggsq', version, the packed token count.
STATE_MAGIC = 0x67677371
STATE_VERSION = 4
_HEADER = struct.Struct("<III")
_TOKEN_NULL = 0xFFFFFFFF  # server_tokens::serialize's format marker (-1)
_NAME = re.compile(r"^([0-9a-f]{16})-([0-9a-f]{16})-([0-9a-f]{64})\.slot$")
_CACHE_TYPE_FLAGS = {
    "-ctk": "k",
    "--cache-type-k": "k",
    "-ctv": "v",
    "--cache-type-v": "v",
}


@dataclass(frozen=True)
class StateKey:
    """What a saved state must match to be restored into a server."""

    model: str  # fingerprint of the model file (hex)
    n_ctx: int  # one slot's context
    cache_types: tuple[str, str]  # (K, V), e.g. ("f16", "f16")
    build: str  # llama-server's build_info

    @property
    def model_part(self) -> str:
        return self.model[:16]

    @property
    def settings_part(self) -> str:
        """The rest of the key, hashed: what a name can hold.

        >>> StateKey("ab" * 32, 2048, ("f16", "f16"), "b11434").settings_part
        'f286e6681a22ef70'
        """
        fields = [self.n_ctx, list(self.cache_types), self.build]
        return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StateFile:
    """A state file found in the folder."""

    name: str
    size: int
    last_used: float  # its mtime: set again each time it is restored


def default_folder(environ: Mapping[str, str], home: str) -> Path:
    """``$XDG_CACHE_HOME/ramalama-sdk/prompts``, or under ``~/.cache``.

    >>> str(default_folder({}, "/home/u"))
    '/home/u/.cache/ramalama-sdk/prompts'
    >>> str(default_folder({"XDG_CACHE_HOME": "/c"}, "/home/u"))
    '/c/ramalama-sdk/prompts'
    """
    base = environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path(home) / ".cache"
    return root / "ramalama-sdk" / "prompts"


def cache_types(runtime_args: Sequence[str]) -> tuple[str, str]:
    """The K and V cache types the server is given (llama-server's default f16).

    >>> cache_types(["--parallel", "2", "-ctk", "q8_0"])
    ('q8_0', 'f16')
    >>> cache_types(["--cache-type-v=q4_0"])
    ('f16', 'q4_0')
    """
    found = {"k": "f16", "v": "f16"}
    args = list(runtime_args)
    for index, arg in enumerate(args):
        flag, _, value = arg.partition("=")
        if flag in _CACHE_TYPE_FLAGS:
            if not value and index + 1 < len(args):
                value = args[index + 1]
            if value:
                found[_CACHE_TYPE_FLAGS[flag]] = value
    return found["k"], found["v"]


def fingerprint_spans(size: int) -> list[tuple[int, int]]:
    """The (offset, length) pieces of a model file that its fingerprint reads.

    >>> fingerprint_spans(100)
    [(0, 100)]
    >>> spans = fingerprint_spans(10 * 2**20)
    >>> spans[0], len(spans), spans[-1][0] + spans[-1][1] == 10 * 2**20
    ((0, 1048576), 17, True)
    """
    if size <= HEAD_BYTES + BLOCKS * BLOCK_BYTES:
        return [(0, size)]
    spans = [(0, HEAD_BYTES)]
    room = size - HEAD_BYTES - BLOCK_BYTES
    for index in range(1, BLOCKS + 1):
        spans.append((HEAD_BYTES + room * index // BLOCKS, BLOCK_BYTES))
    return spans


def fingerprint(size: int, pieces: Iterable[bytes]) -> str:
    """The model's fingerprint from its size and the pieces read at its spans."""
    digest = hashlib.sha256(size.to_bytes(8, "little"))
    for piece in pieces:
        digest.update(piece)
    return digest.hexdigest()


def state_name(key: StateKey, content_sha256: str) -> str:
    """The file name of a state with this key and content.

    >>> state_name(StateKey("ab" * 32, 2048, ("f16", "f16"), "b1"), "0" * 64)[:34]
    'abababababababab-644f1af5abff1afa-'
    """
    return f"{key.model_part}-{key.settings_part}-{content_sha256}{SUFFIX}"


def settings_of(name: str) -> str | None:
    """The settings part of a state's name (None if it is not one).

    >>> settings_of("a" * 16 + "-" + "b" * 16 + "-" + "c" * 64 + ".slot")
    'bbbbbbbbbbbbbbbb'
    """
    parsed = parse_name(name)
    return parsed[1] if parsed is not None else None


def parse_name(name: str) -> tuple[str, str, str] | None:
    """(model part, settings part, content SHA-256) of a state's name, or None.

    >>> parse_name("a" * 16 + "-" + "b" * 16 + "-" + "c" * 64 + ".slot")[1]
    'bbbbbbbbbbbbbbbb'
    >>> parse_name(".saving-1.slot") is None
    True
    """
    match = _NAME.match(name)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def temp_name(token: str) -> str:
    """Where llama-server writes a state before it is checked and named.

    >>> temp_name("1f2e")
    '.saving-1f2e.slot'
    """
    return f"{TEMP_PREFIX}{token}{SUFFIX}"


def header_size(first_bytes: bytes) -> int:
    """How many bytes the header and packed tokens take, from the first 12.

    ValueError when the file is not a llama.cpp sequence state.

    >>> header_size(struct.pack("<III", STATE_MAGIC, STATE_VERSION, 5))
    32
    """
    if len(first_bytes) < _HEADER.size:
        raise ValueError("shorter than a state header")
    magic, version, n_packed = _HEADER.unpack_from(first_bytes)
    if magic != STATE_MAGIC:
        raise ValueError("not a llama.cpp sequence state (bad magic)")
    if version != STATE_VERSION:
        raise ValueError(f"state version {version}, this build reads {STATE_VERSION}")
    return _HEADER.size + 4 * int(n_packed)


def state_tokens(header: bytes) -> tuple[int, ...]:
    """The prompt's tokens from a state's header (``header_size`` bytes).

    llama-server packs them as ``server_tokens::serialize`` does: a -1
    marker, a version, the count and the tokens (then media chunks), or,
    in older files, the bare list.

    >>> packed = [0xFFFFFFFF, 1, 3, 7, 8, 9, 0]
    >>> state_tokens(struct.pack("<III", STATE_MAGIC, STATE_VERSION, len(packed))
    ...              + struct.pack(f"<{len(packed)}I", *packed))
    (7, 8, 9)
    """
    size = header_size(header)
    if len(header) < size:
        raise ValueError("the state ends inside its token list")
    n_packed = (size - _HEADER.size) // 4
    packed = struct.unpack_from(f"<{n_packed}I", header, _HEADER.size)
    if not packed or packed[0] != _TOKEN_NULL:
        return tuple(packed)
    if len(packed) < 3 or packed[2] > len(packed) - 3:
        raise ValueError("a malformed token list")
    return tuple(packed[3 : 3 + packed[2]])


def evictions(files: Sequence[StateFile], max_bytes: int) -> list[str]:
    """The states to delete, least recently used first, so that the rest
    take at most ``max_bytes``.

    >>> files = [StateFile("a", 50, 1.0), StateFile("b", 40, 3.0), StateFile("c", 30, 2.0)]
    >>> evictions(files, 80), evictions(files, 120), evictions(files, 10)
    (['a'], [], ['a', 'c', 'b'])
    """
    total = sum(f.size for f in files)
    doomed: list[str] = []
    for state in sorted(files, key=lambda f: (f.last_used, f.name)):
        if total <= max_bytes:
            break
        doomed.append(state.name)
        total -= state.size
    return doomed


def restore_plan(
    candidates: Sequence[tuple[StateFile, tuple[int, ...]]], slots: int, budget: int
) -> list[tuple[int, str]]:
    """(slot, state name) pairs: the most recently used states, one a slot,
    holding at most ``budget`` tokens together.

    The budget is one slot's context: llama-server's slots share one KV cache
    (``kv_unified``, its default with several slots), and a restore that
    does not fit fails. A state whose tokens begin another candidate's is
    left out: the longer one serves its prompts as well (a conversation
    saved at each turn).

    >>> a, b, c = StateFile("a", 1, 1.0), StateFile("b", 1, 2.0), StateFile("c", 1, 3.0)
    >>> restore_plan([(a, (1, 2)), (b, (1, 2, 3)), (c, (9,))], 4, 100)
    [(0, 'c'), (1, 'b')]
    >>> restore_plan([(a, (1,)), (b, (2,)), (c, (3,))], 2, 100)
    [(0, 'c'), (1, 'b')]
    >>> restore_plan([(a, (1,)), (b, (2, 2)), (c, (3, 3, 3))], 4, 4)
    [(0, 'c'), (1, 'a')]
    """
    newest = sorted(candidates, key=lambda c: (c[0].last_used, c[0].name), reverse=True)
    every = [tokens for _, tokens in newest]
    kept: list[tuple[StateFile, tuple[int, ...]]] = []
    room = budget
    for state, tokens in newest:
        if len(kept) == slots:
            break
        if not tokens or len(tokens) > room or any(t == tokens for _, t in kept):
            continue  # empty, too large for what is left, or an equal newer one is kept
        if any(len(other) > len(tokens) and other[: len(tokens)] == tokens for other in every):
            continue  # a longer state begins with it
        kept.append((state, tokens))
        room -= len(tokens)
    return [(slot, state.name) for slot, (state, _) in enumerate(kept)]


def prompt_cache_folder(
    value: object, environ: Mapping[str, str] | None = None, home: str | None = None
) -> str | None:
    """The ``prompt_cache`` option as an absolute folder, or None for off.

    True is the default folder (``default_folder``); a path is made absolute
    (``~`` expanded); anything else is a TypeError.

    >>> prompt_cache_folder(True, {"XDG_CACHE_HOME": "/c"}, "/h")
    '/c/ramalama-sdk/prompts'
    >>> prompt_cache_folder(False), prompt_cache_folder("/srv/p")
    (None, '/srv/p')
    """
    if value is None or value is False:
        return None
    if value is True:
        env = os.environ if environ is None else environ
        return str(default_folder(env, home or os.path.expanduser("~")))
    if isinstance(value, (str, os.PathLike)) and not isinstance(value, bool):
        text = os.fspath(value)
        if isinstance(text, str) and text.strip():
            return os.path.abspath(os.path.expanduser(text))
    raise TypeError("prompt_cache must be a folder's path (str or Path), True, False or None")
