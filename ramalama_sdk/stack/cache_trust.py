"""Whether a cached build may be run: who owns it, who may change it, what it holds.

The cache holds programs that this user then runs. An entry counts only if
nobody else could have put it there or changed it since it was built:

- the entry, its files, the cache folder and every folder above it are owned
  by this user (or, for the folders above, by root);
- none of them is writable by others: not by the world, and by the group only
  when it is this user's private group (Debian's and Fedora's default, with
  umask 002); a sticky folder such as ``/tmp`` is fine above the cache;
- nothing in the entry is a symbolic link, and it holds exactly the files its
  record lists, each with the recorded sha256. The record
  (``KEY.sha256sums``, in ``sha256sum`` format) sits in the cache folder,
  outside the entry, so that what can replace the entry's files cannot
  replace the record with them.

The checks are pure functions of ``os.stat`` results, so they are tested
without a second user account; :func:`entry_problem` applies them to a path.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from collections.abc import Mapping
from pathlib import Path

from .cache import file_sha256

__all__ = [
    "entry_problem",
    "folder_problem",
    "format_sums",
    "mode_problem",
    "parse_sums",
]


def _private_group(gid: int, uid: int) -> bool:
    """Whether ``gid`` is ``uid``'s own group (user private groups): nobody else is in it."""
    try:
        user = pwd.getpwuid(uid)
        group = grp.getgrgid(gid)
    except KeyError:
        return False
    return (
        user.pw_gid == gid and group.gr_name == user.pw_name and set(group.gr_mem) <= {user.pw_name}
    )


def mode_problem(
    info: os.stat_result, uid: int, *, above: bool = False, private_group: bool = False
) -> str | None:
    """Why a file or folder with this stat may have been changed by someone else, or None.

    ``above``: a folder above the cache, which root may own and which may be
    world-writable if sticky (``/tmp``). ``private_group``: its group is the
    user's own.

    >>> import os
    >>> def st(mode, uid=1000): return os.stat_result((mode, 0, 0, 1, uid, 1000, 0, 0, 0, 0))
    >>> mode_problem(st(0o40755), 1000) is None
    True
    >>> mode_problem(st(0o40775), 1000)
    'writable by its group'
    >>> mode_problem(st(0o40775), 1000, private_group=True) is None
    True
    >>> mode_problem(st(0o100757), 1000)
    'writable by everyone'
    >>> mode_problem(st(0o100755, uid=0), 1000)
    'owned by uid 0, not by this user (uid 1000)'
    >>> mode_problem(st(0o41777, uid=0), 1000, above=True) is None
    True
    >>> mode_problem(st(0o120777), 1000)
    'a symbolic link'
    """
    mode = info.st_mode
    if stat.S_ISLNK(mode) and not above:
        return "a symbolic link"
    owners = (uid, 0) if above else (uid,)
    if info.st_uid not in owners:
        return f"owned by uid {info.st_uid}, not by this user (uid {uid})"
    if stat.S_ISLNK(mode):  # its mode means nothing; only its owner may change it
        return None
    sticky = above and stat.S_ISDIR(mode) and bool(mode & stat.S_ISVTX)
    if mode & stat.S_IWOTH and not sticky:
        return "writable by everyone"
    if mode & stat.S_IWGRP and not sticky and not private_group:
        return "writable by its group"
    return None


def _problem(path: Path, uid: int, *, above: bool = False) -> str | None:
    try:
        info = path.lstat()
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"
    reason = mode_problem(info, uid, above=above, private_group=_private_group(info.st_gid, uid))
    return None if reason is None else f"{path} is {reason}"


def folder_problem(folder: Path, uid: int | None = None) -> str | None:
    """Why ``folder`` (the cache) or a folder above it lets others change the cache, or None."""
    uid = os.getuid() if uid is None else uid
    real = folder.resolve()
    reason = _problem(real, uid)
    if reason is not None:
        return reason
    # The folders above the cache as written and as they resolve: a symbolic
    # link on the way (a moved home) is fine if whoever could swap it is us.
    above = {*Path(os.path.abspath(folder)).parents, *real.parents}
    for parent in sorted(above, key=lambda p: len(p.parts)):
        reason = _problem(parent, uid, above=True)
        if reason is not None:
            return reason
    return None


def format_sums(sums: Mapping[str, str]) -> str:
    """A record in ``sha256sum`` format.

    >>> format_sums({"llama-server": "ab"})
    'ab  llama-server\\n'
    """
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def parse_sums(text: str) -> dict[str, str] | None:
    """The record's file names and digests, or None if it is not a sound record.

    >>> parse_sums("ab" * 32 + "  llama-server\\n")
    {'llama-server': 'abababababababababababababababababababababababababababababababab'}
    >>> parse_sums("ab  ../evil\\n") is None
    True
    """
    sums: dict[str, str] = {}
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        sound_digest = len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
        if not (sep and sound_digest and name) or "/" in name or name in (".", ".."):
            return None
        sums[name] = digest
    return sums or None


def entry_problem(entry: Path, record: Path, uid: int | None = None) -> str | None:
    """Why the cache entry ``entry`` must not be run, or None if it is sound.

    Checks the entry folder, its files and the record (owner, mode, no links),
    and that the entry holds exactly the recorded files with their digests.
    The folders above are :func:`folder_problem`'s to check.
    """
    uid = os.getuid() if uid is None else uid
    for path in (entry, record):
        reason = _problem(path, uid)
        if reason is not None:
            return reason
    if not entry.is_dir():
        return f"{entry} is not a folder"
    try:
        sums = parse_sums(record.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        return f"its record {record} cannot be read ({exc})"
    if sums is None:
        return f"its record {record} is damaged"
    present = {path.name for path in entry.iterdir()}
    if present != set(sums):
        extra, missing = sorted(present - set(sums)), sorted(set(sums) - present)
        return f"{entry} does not hold what its record lists (extra: {extra}, missing: {missing})"
    for name, digest in sums.items():
        path = entry / name
        reason = _problem(path, uid)
        if reason is not None:
            return reason
        if not path.is_file():
            return f"{path} is not a regular file"
        if file_sha256(path) != digest:
            return f"{path} does not match its recorded sha256"
    return None
