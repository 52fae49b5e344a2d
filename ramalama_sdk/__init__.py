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
    from .agents.agent import ActResult, ToolRun
    from .agents.parsing import ParseAttempt
    from .agents.tools import Tool, ToolArgumentsError, tool_from
    from .async_model import AsyncRamalamaModel
    from .chat_options import ActOptions, ChatOptions, GenerationOptions
    from .conversation import AsyncConversation, Conversation
    from .deploy import LocalModelWarning
    from .endpoints.completions import TextCompletion
    from .endpoints.embeddings import RankedDocument
    from .endpoints.info import ModelDetails
    from .http.images import ContentPart
    from .http.replies import ThinkingCutOffWarning
    from .http.streaming import StreamEvent
    from .process.registry import running, stop_all
    from .progress import EngineProgress, EngineProgressCallback
    from .router_models import AsyncRamalamaRouter, RamalamaRouter
    from .store.inspection import inspect
    from .store.management import ModelInfo, list_models, remove
    from .store.progress import ProgressCallback
    from .streams import AsyncChatStream, ChatStream
    from .sync_model import RamalamaModel
    from .text_streams import AsyncTextStream, TextStream

# Imported on first use: requests, aiohttp, asyncio and psutil together cost
# more than 100 ms, which a program that only imports the package (a CLI's
# --help, a test collection) should not pay.
_LAZY = {
    "ActResult": "agents.agent",
    "ToolRun": "agents.agent",
    "ActOptions": "chat_options",
    "ChatOptions": "chat_options",
    "GenerationOptions": "chat_options",
    "ParseAttempt": "agents.parsing",
    "ThinkingCutOffWarning": "http.replies",
    "StreamEvent": "http.streaming",
    "Tool": "agents.tools",
    "ToolArgumentsError": "agents.tools",
    "tool_from": "agents.tools",
    "AsyncRamalamaModel": "async_model",
    "AsyncConversation": "conversation",
    "Conversation": "conversation",
    "LocalModelWarning": "deploy",
    "ModelInfo": "store.management",
    "list_models": "store.management",
    "remove": "store.management",
    "ProgressCallback": "store.progress",
    "AsyncRamalamaRouter": "router_models",
    "RamalamaRouter": "router_models",
    "AsyncChatStream": "streams",
    "ChatStream": "streams",
    "RamalamaModel": "sync_model",
    "TextCompletion": "endpoints.completions",
    "RankedDocument": "endpoints.embeddings",
    "ContentPart": "http.images",
    "ModelDetails": "endpoints.info",
    "inspect": "store.inspection",
    "AsyncTextStream": "text_streams",
    "TextStream": "text_streams",
    "running": "process.registry",
    "stop_all": "process.registry",
    "EngineProgress": "progress",
    "EngineProgressCallback": "progress",
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
    "EngineProgress",
    "EngineProgressCallback",
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
