"""Write the blocking shells from the async ones, or check that they agree.

    python scripts/make_sync.py          # (re)write ramalama_sdk/models/_sync/
    python scripts/make_sync.py --check  # exit 1, with a diff, if they differ

Every capability of the model, router, conversation and stream classes is
written once, with awaits, in ``ramalama_sdk/models/_async/``. The ``unasync``
package rewrites each of those files token by token (``async def`` → ``def``,
``await x`` → ``x``, ``AsyncIterator`` → ``Iterator``, ``__aenter__`` →
``__enter__``, and the names below); the I/O primitives of ``io.py`` are
written by hand on both sides under the same names. ``make lint`` (so CI)
runs ``--check``: a hand edit of a generated file, or a source changed
without regenerating, fails.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("ramalama_sdk/models/_async")
TARGET = Path("ramalama_sdk/models/_sync")
# The I/O primitives and the connections, which each side writes for itself;
# everything else is generated.
HAND_WRITTEN = {"io.py", "transport.py"}
# Names beyond unasync's own (it turns any other AsyncName into SyncName).
REPLACEMENTS = {
    "AsyncRamalamaModel": "RamalamaModel",
    "AsyncRamalamaRouter": "RamalamaRouter",
    "AsyncChatStream": "ChatStream",
    "AsyncTextStream": "TextStream",
    "AsyncConversation": "Conversation",
    "aclose": "close",
    "opened_async": "opened",
}
# unasync rewrites code, not prose: docstrings and comments read the same
# once these are applied (nothing in the code is left to match them).
PROSE = [
    (re.compile(r"\bawait "), ""),
    (re.compile(r"\basync (for|with|def)\b"), r"\1"),
    (re.compile(r"\b__aenter__\b"), "__enter__"),
    (re.compile(r"\b__aexit__\b"), "__exit__"),
    *((re.compile(rf"\b{old}\b"), new) for old, new in REPLACEMENTS.items()),
]
HEADER = (
    "# Generated from {source} by scripts/make_sync.py: do not edit.\n"
    "# Change the async source, then run `make unasync`.\n"
)


def sources() -> list[Path]:
    return sorted(p for p in (ROOT / SOURCE).glob("*.py") if p.name not in HAND_WRITTEN)


def generate(work: Path) -> dict[str, str]:
    """Every generated file's name and text, as they should be."""
    async_dir, sync_dir = work / "_async", work / "_sync"
    async_dir.mkdir()
    copies = []
    for path in sources():
        shutil.copyfile(path, async_dir / path.name)
        copies.append(str(async_dir / path.name))
    rule = unasync.Rule(str(async_dir), str(sync_dir), additional_replacements=REPLACEMENTS)
    unasync.unasync_files(copies, [rule])
    for path in sources():
        out = sync_dir / path.name
        text = out.read_text()
        for pattern, replacement in PROSE:
            text = pattern.sub(replacement, text)
        out.write_text(HEADER.format(source=(SOURCE / path.name).as_posix()) + text)
    # The rewrite leaves some lines shorter and some imports unused or out
    # of order: the project's own formatter settles them.
    config = ["--config", str(ROOT / "pyproject.toml"), "--quiet"]
    ruff = [sys.executable, "-m", "ruff"]
    fix = ["check", "--fix", "--select", "I,F401", "--exit-zero", *config]
    subprocess.run([*ruff, *fix, str(sync_dir)], check=True)
    subprocess.run([*ruff, "format", *config, str(sync_dir)], check=True)
    return {path.name: (sync_dir / path.name).read_text() for path in sources()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as tmp:
        expected = generate(Path(tmp))
    target = ROOT / TARGET
    stale = sorted(
        p.name for p in target.glob("*.py") if p.name not in expected and p.name not in HAND_WRITTEN
    )
    drift = []
    for name, text in expected.items():
        path = target / name
        current = path.read_text() if path.exists() else ""
        if current == text:
            continue
        drift.append(name)
        if check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    str(TARGET / name),
                    f"{TARGET / name} (generated from {SOURCE / name})",
                )
            )
        else:
            path.write_text(text)
    if check and (drift or stale):
        for name in stale:
            print(f"{TARGET / name}: no source in {SOURCE}: remove it")
        print(
            f"the generated files differ from their async sources ({', '.join(drift + stale)}):"
            " change the source in ramalama_sdk/models/_async/, then run `make unasync`",
            file=sys.stderr,
        )
        return 1
    if not check:
        for name in stale:
            (target / name).unlink()
        print(f"{len(expected)} files generated in {TARGET}; {len(drift)} changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
