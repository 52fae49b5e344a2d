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
    ContextLengthError,
    DownloadError,
    GenerateError,
    GenerateTimeoutError,
    ModelNotFoundError,
    NoChatTemplateWarning,
    RamalamaError,
    RamalamaNotInstalledError,
    ServerNotRunningError,
    ServerStartError,
    ServerTimeoutError,
    UnsupportedError,
)
from .types import ChatMessage, Completion, Usage

if TYPE_CHECKING:
    from .async_model import AsyncRamalamaModel
    from .completions import TextCompletion
    from .conversation import AsyncConversation, Conversation
    from .deploy import LocalModelWarning
    from .embeddings import RankedDocument
    from .images import ContentPart
    from .info import ModelDetails
    from .inspection import inspect
    from .management import ModelInfo, list_models, remove
    from .progress import ProgressCallback
    from .streams import AsyncChatStream, ChatStream
    from .sync_model import RamalamaModel
    from .text_streams import AsyncTextStream, TextStream

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
    "TextCompletion": "completions",
    "RankedDocument": "embeddings",
    "ContentPart": "images",
    "ModelDetails": "info",
    "inspect": "inspection",
    "AsyncTextStream": "text_streams",
    "TextStream": "text_streams",
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
    "AsyncTextStream",
    "ChatMessage",
    "ChatStream",
    "CommandError",
    "Completion",
    "ContentPart",
    "ContextLengthError",
    "Conversation",
    "DownloadError",
    "GenerateError",
    "GenerateTimeoutError",
    "LocalModelWarning",
    "ModelDetails",
    "ModelInfo",
    "ModelNotFoundError",
    "NoChatTemplateWarning",
    "ProgressCallback",
    "RamalamaError",
    "RamalamaModel",
    "RamalamaNotInstalledError",
    "RankedDocument",
    "ServerNotRunningError",
    "ServerStartError",
    "ServerTimeoutError",
    "TextCompletion",
    "TextStream",
    "UnsupportedError",
    "Usage",
    "__version__",
    "inspect",
    "list_models",
    "remove",
]
