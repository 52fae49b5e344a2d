"""Every install line of the repository installs this project.

The name ``ramalama-sdk`` on PyPI holds another, older package: ``pip install
ramalama-sdk`` (an extra or not) installs that one. This project installs from
a clone (``pip install ./ramalama-sdk``) or a git URL (``ramalama-sdk @
git+...``); the README's warning is the one line allowed to name the wrong form.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# "pip install ramalama-sdk", "pip install 'ramalama-sdk[testing]'", ... but not
# "pip install ./ramalama-sdk" nor "ramalama-sdk[x] @ git+URL".
_FROM_PYPI = re.compile(
    r"""pip install\s+(?:-\S+\s+)*["']?ramalama-sdk(?:\[[\w,]*\])?["']?(?!["']?\s*@|[\w./\[-])"""
)
# The README's warning says what that command does.
_WARNING = "installs that one"


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    this = Path(__file__).resolve()  # its own examples of the wrong form
    return [f for f in files if f.is_file() and not f.is_symlink() and f != this]


def test_the_pattern_finds_the_pypi_form_only() -> None:
    assert _FROM_PYPI.search("pip install ramalama-sdk")
    assert _FROM_PYPI.search("needs pip install ramalama-sdk[testing] (or ...)")
    assert _FROM_PYPI.search('pip install "ramalama-sdk[progress]"')
    assert not _FROM_PYPI.search('pip install "./ramalama-sdk[progress]"')
    assert not _FROM_PYPI.search('pip install "ramalama-sdk[progress] @ git+URL"')
    assert not _FROM_PYPI.search("pip install ./ramalama-sdk")


def test_no_line_installs_the_pypi_package() -> None:
    wrong = []
    for path in _tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if _FROM_PYPI.search(line) and _WARNING not in line:
                wrong.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not wrong, "lines that install PyPI's other ramalama-sdk:\n" + "\n".join(wrong)


def test_the_missing_extra_messages_name_the_clone_form() -> None:
    from ramalama_sdk import testing
    from ramalama_sdk.stack import tiny_llama, tiny_vision

    for module in (testing, tiny_llama, tiny_vision):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert 'pip install "./ramalama-sdk[testing]"' in source, module.__name__


def test_an_install_from_the_clone_holds_every_subpackage() -> None:
    """pyproject.toml names the packages one by one: a folder left out of the
    list is missing from every install but an editable one (which these tests
    run from, so no other test would notice)."""
    if sys.version_info < (3, 11):
        pytest.skip("reads pyproject.toml with tomllib, which Python 3.11 brought")
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "ramalama_sdk").rglob("__init__.py")
    }
    assert on_disk - listed == set(), "packages missing from pyproject.toml"
