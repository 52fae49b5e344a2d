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
    ContainerEngineError,
    ContextLengthError,
    DownloadError,
    GenerateError,
    GenerateTimeoutError,
    ImagePullError,
    JinjaRequiredError,
    MaxRoundsError,
    ModelNotFoundError,
    NoChatTemplateWarning,
    ParseError,
    RamalamaError,
    RamalamaNotInstalledError,
    ReplyCutOffError,
    ServerNotRunningError,
    ServerStartError,
    ServerTimeoutError,
    UnsupportedError,
)
from .types import ChatMessage, Completion, TokenLogprob, ToolCall, ToolCallDict, TopLogprob, Usage

if TYPE_CHECKING:
    from .agent import ActResult, ToolRun
    from .async_model import AsyncRamalamaModel
    from .chat_options import ActOptions, ChatOptions, GenerationOptions
    from .completions import TextCompletion
    from .conversation import AsyncConversation, Conversation
    from .deploy import LocalModelWarning
    from .embeddings import RankedDocument
    from .images import ContentPart
    from .info import ModelDetails
    from .inspection import inspect
    from .management import ModelInfo, list_models, remove
    from .parsing import ParseAttempt
    from .progress import ProgressCallback
    from .registry import running, stop_all
    from .replies import ThinkingCutOffWarning
    from .router_models import AsyncRamalamaRouter, RamalamaRouter
    from .streaming import StreamEvent
    from .streams import AsyncChatStream, ChatStream
    from .sync_model import RamalamaModel
    from .text_streams import AsyncTextStream, TextStream
    from .tools import Tool, ToolArgumentsError, tool_from

# Imported on first use: requests, aiohttp, asyncio and psutil together cost
# more than 100 ms, which a program that only imports the package (a CLI's
# --help, a test collection) should not pay.
_LAZY = {
    "ActResult": "agent",
    "ToolRun": "agent",
    "ActOptions": "chat_options",
    "ChatOptions": "chat_options",
    "GenerationOptions": "chat_options",
    "ParseAttempt": "parsing",
    "ThinkingCutOffWarning": "replies",
    "StreamEvent": "streaming",
    "Tool": "tools",
    "ToolArgumentsError": "tools",
    "tool_from": "tools",
    "AsyncRamalamaModel": "async_model",
    "AsyncConversation": "conversation",
    "Conversation": "conversation",
    "LocalModelWarning": "deploy",
    "ModelInfo": "management",
    "list_models": "management",
    "remove": "management",
    "ProgressCallback": "progress",
    "AsyncRamalamaRouter": "router_models",
    "RamalamaRouter": "router_models",
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
    "ActOptions",
    "ActResult",
    "AsyncChatStream",
    "AsyncConversation",
    "AsyncRamalamaModel",
    "AsyncRamalamaRouter",
    "AsyncTextStream",
    "ChatMessage",
    "ChatOptions",
    "ChatStream",
    "CommandError",
    "Completion",
    "ContainerEngineError",
    "ContentPart",
    "ContextLengthError",
    "Conversation",
    "DownloadError",
    "GenerateError",
    "GenerateTimeoutError",
    "GenerationOptions",
    "ImagePullError",
    "JinjaRequiredError",
    "LocalModelWarning",
    "MaxRoundsError",
    "ModelDetails",
    "ModelInfo",
    "ModelNotFoundError",
    "NoChatTemplateWarning",
    "ParseAttempt",
    "ParseError",
    "ProgressCallback",
    "RamalamaError",
    "RamalamaModel",
    "RamalamaNotInstalledError",
    "RamalamaRouter",
    "RankedDocument",
    "ReplyCutOffError",
    "ServerNotRunningError",
    "ServerStartError",
    "ServerTimeoutError",
    "StreamEvent",
    "TextCompletion",
    "TextStream",
    "ThinkingCutOffWarning",
    "TokenLogprob",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallDict",
    "ToolRun",
    "TopLogprob",
    "UnsupportedError",
    "Usage",
    "__version__",
    "inspect",
    "list_models",
    "remove",
    "running",
    "stop_all",
    "tool_from",
]
