"""Every Python block of README.md, run as a user would run it.

Sybil finds the blocks (``README.md`` here is a link to the project's own);
each runs as a script of its own: a fresh namespace, its own imports, on the
real stack of ``tests/conftest.py`` (private store, no container engine). A
block whose first line says it is a notebook cell may ``await`` at the top
level, as Jupyter allows; anywhere else that is an error, as in a script.

The README names models a newcomer would use (``tinyllama``, ``qwen3:4b``,
Hugging Face repositories), which need the internet. The ``readme_models``
fixture swaps each of those names, as written in the block, for a local tiny
model of the same kind (a chat, tools, thinking, embedding, reranker, base or
vision model): the README says so in one line. Blocks that need what no
machine here has (a GPU, a registry, a cluster) are marked in the README with
``<!-- skip: next "reason" -->``, and the reason shows in the summary.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sybil import Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, SkipParser

import ramalama_sdk
from ramalama_sdk.testing import tiny_model, tiny_projector

# The first line of a block that Jupyter runs, with top-level await.
NOTEBOOK_CELL = "# A notebook cell"
_CONNECT_KEY = "readme-key"


def run_as_script(example: Example) -> None:
    """Run one block as ``python block.py`` would, its models swapped for local ones."""
    swaps: dict[str, str] = example.namespace["readme_models"]
    source = example.parsed
    for name, local in swaps.items():
        source = source.replace(name, local)
    # Blank lines first, so that a traceback names the README's own line.
    padded = "\n" * (example.line) + source
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(padded, str(example.path), "exec", flags=flags, dont_inherit=True)
    namespace: dict[str, object] = {"__name__": "__main__"}
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            if not source.startswith(NOTEBOOK_CELL):
                raise AssertionError(
                    f"line {example.line}: 'await' at the top level of a block that does "
                    f"not start with {NOTEBOOK_CELL!r}: it fails as a script"
                )
            asyncio.run(eval(code, namespace))
        else:
            exec(code, namespace)
    finally:
        # A block that failed half-way must not leave its server to the next.
        ramalama_sdk.stop_all()


pytest_collect_file = Sybil(
    parsers=[CodeBlockParser("python", run_as_script), SkipParser()],
    patterns=["README.md"],
    fixtures=["readme_models", "readme_directory"],
).pytest()


@pytest.fixture(scope="session")
def readme_files(tmp_path_factory: pytest.TempPathFactory, real_stack: None) -> Path:
    """The local models and the pictures the README's blocks name, on the
    test stack (named here: Sybil's items do not ask for autouse fixtures)."""
    folder = tmp_path_factory.mktemp("readme")
    Image.new("RGB", (32, 24), (200, 120, 40)).save(folder / "photo.jpg")
    Image.new("RGB", (28, 28), (10, 90, 200)).save(folder / "chart.png")
    return folder


@pytest.fixture(scope="module")
def connect_target(readme_files: Path) -> Iterator[str]:
    """A server that runs elsewhere, for the connect() block: its URL. It is
    served by another process, as it would be, so that no block's stop_all()
    (the README shows one) reaches it; it stops when its stdin closes, once
    the README's blocks have run: the suite's later tests check that none of
    its servers is left."""
    uri = tiny_model(readme_files / "served-elsewhere.gguf").as_uri()
    code = (
        "import sys\n"
        "from ramalama_sdk import RamalamaModel\n"
        f"with RamalamaModel(model={uri!r}, api_key={_CONNECT_KEY!r}, max_tokens=16) as m:\n"
        "    print(m.base_url, flush=True)\n"
        "    sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        url = child.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), "the server elsewhere did not start"
        yield url
    finally:
        if child.stdin is not None:
            child.stdin.close()
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.fixture(scope="module")
def readme_models(readme_files: Path, connect_target: str) -> dict[str, str]:
    """What the README writes -> what the tests run: local models of each kind."""
    folder = readme_files

    def local(**variant: object) -> str:
        return f'"{tiny_model(folder, **variant).as_uri()}"'  # type: ignore[arg-type]

    vision = f'{local()}, runtime_args=["--mmproj", "{tiny_projector(folder)}"]'
    return {
        '"tinyllama"': local(),
        '"qwen3:4b"': local(tools=True),
        '"qwen3:0.6b"': local(thinking=True),
        '"smollm:135m"': local(),
        '"hf://nomic-ai/nomic-embed-text-v1.5-GGUF"': local(pooling="mean"),
        '"hf://gpustack/bge-reranker-v2-m3-GGUF"': local(pooling="rank"),
        '"file:///models/gemma-3-270m-Q4_K_M.gguf"': local(chat_template=False),
        '"hf://ggml-org/gemma-3-4b-it-GGUF"': vision,
        '"http://gpu-box:8080/v1"': f'"{connect_target}"',
        'api_key="..."': f'api_key="{_CONNECT_KEY}"',
        '"/tmp/tiny.gguf"': f'"{folder / "smoke" / "tiny.gguf"}"',
    }


@pytest.fixture
def readme_directory(readme_files: Path) -> Iterator[Path]:
    """Each block runs where its pictures are, as a user's script would."""
    (readme_files / "smoke").mkdir(exist_ok=True)
    before = Path.cwd()
    os.chdir(readme_files)
    try:
        yield readme_files
    finally:
        os.chdir(before)
