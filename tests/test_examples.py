"""The examples run as a user would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import server_processes

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_demo_runs_the_four_ways_of_chatting(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "demo.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for label in ("1. with-block", "2. with history", "3. manual, temp=0", "4. async"):
        assert any(line.startswith(label + " ") or line.startswith(label) for line in lines), label
    assert sum(line.startswith("4. async") for line in lines) == 3
    assert lines[-1] == "done: every server has stopped"
    # Nothing of the server reached the user's console.
    assert "llama" not in done.stdout.replace("tiny-llama", "") and done.stderr == ""
    assert server_processes() == []
