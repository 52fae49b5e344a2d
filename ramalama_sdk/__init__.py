"""Run a local LLM from Python the way you open a file.

    from ramalama_sdk import RamalamaModel

    with RamalamaModel(model="tinyllama") as model:
        print(model.chat("Hello")["content"])

The package drives the ``ramalama`` command-line tool: ``ramalama pull`` to
fetch a model, ``ramalama serve`` to run it, and the OpenAI chat schema over
HTTP to talk to it. See the README for every option.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CommandError,
    DownloadError,
    GenerateError,
    GenerateTimeoutError,
    ModelNotFoundError,
    RamalamaError,
    RamalamaNotInstalledError,
    ServerNotRunningError,
    ServerStartError,
    ServerTimeoutError,
)
from .types import ChatMessage, Completion, Usage

if TYPE_CHECKING:
    from .async_model import AsyncRamalamaModel
    from .conversation import AsyncConversation, Conversation
    from .deploy import LocalModelWarning
    from .management import ModelInfo, list_models, remove
    from .progress import ProgressCallback
    from .registry import running, stop_all
    from .streams import AsyncChatStream, ChatStream
    from .sync_model import RamalamaModel

# Imported on first use: requests, aiohttp, asyncio and psutil together cost
# more than 100 ms, which a program that only imports the package (a CLI's
# --help, a test collection) should not pay.
_LAZY = {
    "AsyncRamalamaModel": "async_model",
    "AsyncConversation": "conversation",
    "Conversation": "conversation",
    "LocalModelWarning": "deploy",
    "ModelInfo": "management",
    "list_models": "management",
    "remove": "management",
    "ProgressCallback": "progress",
    "AsyncChatStream": "streams",
    "ChatStream": "streams",
    "RamalamaModel": "sync_model",
    "running": "registry",
    "stop_all": "registry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.2.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncChatStream",
    "AsyncConversation",
    "AsyncRamalamaModel",
    "ChatMessage",
    "ChatStream",
    "CommandError",
    "Completion",
    "Conversation",
    "DownloadError",
    "GenerateError",
    "GenerateTimeoutError",
    "LocalModelWarning",
    "ModelInfo",
    "ModelNotFoundError",
    "ProgressCallback",
    "RamalamaError",
    "RamalamaModel",
    "RamalamaNotInstalledError",
    "ServerNotRunningError",
    "ServerStartError",
    "ServerTimeoutError",
    "Usage",
    "__version__",
    "list_models",
    "remove",
    "running",
    "stop_all",
]
