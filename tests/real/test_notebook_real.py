"""examples/real_models.ipynb, executed headlessly in a real Jupyter kernel.

The notebook is kept with its outputs, so that a reader sees them on the
repository's page: those saved outputs are checked too.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from conftest import server_processes

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "real_models.ipynb"


def _text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(output["text"])
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def _check(cells: list[nbformat.NotebookNode]) -> None:
    (files, answer, stream, parsed, ranking, rag, stopped, awaited) = cells
    assert "SmolLM2-135M-Instruct-Q4_1.gguf" in _text(files)
    assert "5" in _text(answer)
    assert "red" in _text(stream).lower()
    assert _text(parsed).startswith("Developer(name=")
    assert ranking.outputs and "Lumen café" in _text(ranking).splitlines()[0]
    assert "7" in _text(rag)
    assert _text(stopped).strip() == "False"
    assert "5" in _text(awaited)
    for cell in cells:
        assert all(o.get("output_type") != "error" for o in cell.get("outputs", []))
        assert "llama_" not in _text(cell)  # no server log in the notebook


def _code(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in notebook.cells if c.cell_type == "code"]


def test_the_saved_notebook_shows_its_outputs() -> None:
    saved = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    cells = _code(saved)
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1))
    _check(cells)


def test_the_notebook_runs_on_the_real_models() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    _check(_code(notebook))
    assert server_processes() == []
