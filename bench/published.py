"""The published ramalama-sdk 0.1.6, driven in its own venv through
published_driver.py, one JSON line per command, so that its samples can be
taken in turn with the current SDK's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import IO, Any

DRIVER = Path(__file__).with_name("published_driver.py")
DEFAULT_PYTHON = Path(__file__).with_name(".venv-published") / "bin" / "python"


class PublishedDriver:
    """A running driver process; ``close()`` ends it and every server it started."""

    def __init__(self, python: Path, model_uri: str, store: Path, log: IO[bytes]) -> None:
        env = dict(os.environ)
        env["RAMALAMA_STORE"] = str(store)
        # 0.1.6 binds ramalama's configured host (0.0.0.0 by default) and,
        # when it thinks it runs in a container, connects to the container
        # host's name: both are set to loopback.
        env["RAMALAMA_HOST"] = "127.0.0.1"
        env["RAMALAMA_SDK_CONNECT_HOST"] = "127.0.0.1"
        self._proc = subprocess.Popen(
            [str(python), "-I", str(DRIVER), model_uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            text=True,
            start_new_session=True,
        )
        self.version = str(self._read()["version"])

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the published-SDK driver exited ({self._proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def call(self, **command: object) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(command) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        finally:
            try:  # the driver's group holds any llama-server it left
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()
