"""examples/notebook.ipynb, executed headlessly in a real Jupyter kernel."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from conftest import port_is_listening, server_processes, wait_gone

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook.ipynb"


def _output_text(cell: nbformat.NotebookNode, *, stderr: bool = False) -> str:
    """What a cell printed and returned; its stderr (where the SDK's progress
    bars go, in a notebook, once a load lasts half a second) only if asked."""
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output and (stderr or output.get("name") != "stderr"):
            parts.append(output["text"])
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "".join(parts)


def test_notebook_serves_chats_and_leaves_nothing(model_uri: str) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)  # type: ignore[no-untyped-call]
    os.environ["MODEL"] = model_uri  # the kernel inherits this environment
    try:
        client = NotebookClient(notebook, timeout=120, kernel_name="python3")
        with client.setup_kernel():
            client.execute(cleanup_kc=False)
            code = [c for c in notebook.cells if c.cell_type == "code"]
            assert "'assistant'" in _output_text(code[2])  # model.chat() in the loop
            assert _output_text(code[4]).strip() == "False"  # stopped
            assert _output_text(code[5]).strip() == "('assistant', True)"  # top-level await
            port = int(_output_text(code[6]))
            assert port_is_listening(port)  # left serving on purpose
            (kernel,) = [
                p for p in psutil.Process().children() if "ipykernel" in " ".join(p.cmdline())
            ]
            tree = [kernel, *kernel.children(recursive=True)]
        # The kernel has shut down: the server it left running is gone with it.
        assert wait_gone(tree, timeout=10) == []
        assert not port_is_listening(port)
        assert server_processes() == []
        # No cell printed an error or a server log line.
        for cell in code:
            assert all(o.get("output_type") != "error" for o in cell.get("outputs", []))
            assert "llama_server" not in _output_text(cell, stderr=True)
    finally:
        del os.environ["MODEL"]
