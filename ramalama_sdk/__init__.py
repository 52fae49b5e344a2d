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
    NotARerankerWarning,
    ParseError,
    PromptCacheWarning,
    RamalamaError,
    RamalamaNotInstalledError,
    ReplyCutOffError,
    RequestCancelledError,
    ServerNotRunningError,
    ServerStartError,
    ServerTimeoutError,
    ToolCallCutOffError,
    ToolServerError,
    UnsupportedError,
)
from .types import ChatMessage, Completion, TokenLogprob, ToolCall, ToolCallDict, TopLogprob, Usage

if TYPE_CHECKING:
    from .agents.agent import ActResult, ToolRun
    from .agents.mcp_tools import McpServer, McpToolError
    from .agents.parsing import ParseAttempt
    from .chat_options import ActOptions, ChatOptions, GenerationOptions
    from .deploy import LocalModelWarning, NoKeyWarning
    from .endpoints.classify import Classification
    from .endpoints.completions import TextCompletion
    from .endpoints.embeddings import RankedDocument
    from .endpoints.info import ModelDetails
    from .endpoints.status import ServerStatus
    from .engine_progress import EngineProgress, EngineProgressCallback
    from .http.cancelling import CancelToken
    from .http.images import ContentPart
    from .http.replies import ThinkingCutOffWarning
    from .http.streaming import StreamEvent
    from .models._async.conversation import AsyncConversation
    from .models._async.model import AsyncRamalamaModel
    from .models._async.router import AsyncRamalamaRouter
    from .models._async.streams import AsyncChatStream
    from .models._async.text_streams import AsyncTextStream
    from .models._sync.conversation import Conversation
    from .models._sync.model import RamalamaModel
    from .models._sync.router import RamalamaRouter
    from .models._sync.streams import ChatStream
    from .models._sync.text_streams import TextStream
    from .process.registry import running, stop_all
    from .store.inspection import inspect
    from .store.management import ModelInfo, list_models, remove
    from .store.progress import ProgressCallback
    from .tools.definitions import Tool, ToolArgumentsError, tool_from

# Imported on first use: requests, aiohttp, asyncio and psutil together cost
# more than 100 ms, which a program that only imports the package (a CLI's
# --help, a test collection) should not pay.
_LAZY = {
    "ActResult": "agents.agent",
    "ToolRun": "agents.agent",
    "McpServer": "agents.mcp_tools",
    "McpToolError": "agents.mcp_tools",
    "ActOptions": "chat_options",
    "ChatOptions": "chat_options",
    "GenerationOptions": "chat_options",
    "ParseAttempt": "agents.parsing",
    "ThinkingCutOffWarning": "http.replies",
    "CancelToken": "http.cancelling",
    "StreamEvent": "http.streaming",
    "Tool": "tools.definitions",
    "ToolArgumentsError": "tools.definitions",
    "tool_from": "tools.definitions",
    "AsyncRamalamaModel": "models._async.model",
    "AsyncConversation": "models._async.conversation",
    "Conversation": "models._sync.conversation",
    "LocalModelWarning": "deploy",
    "NoKeyWarning": "deploy",
    "ModelInfo": "store.management",
    "list_models": "store.management",
    "remove": "store.management",
    "ProgressCallback": "store.progress",
    "AsyncRamalamaRouter": "models._async.router",
    "RamalamaRouter": "models._sync.router",
    "AsyncChatStream": "models._async.streams",
    "ChatStream": "models._sync.streams",
    "RamalamaModel": "models._sync.model",
    "TextCompletion": "endpoints.completions",
    "Classification": "endpoints.classify",
    "RankedDocument": "endpoints.embeddings",
    "ContentPart": "http.images",
    "ModelDetails": "endpoints.info",
    "ServerStatus": "endpoints.status",
    "inspect": "store.inspection",
    "AsyncTextStream": "models._async.text_streams",
    "TextStream": "models._sync.text_streams",
    "running": "process.registry",
    "stop_all": "process.registry",
    "EngineProgress": "engine_progress",
    "EngineProgressCallback": "engine_progress",
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
    "CancelToken",
    "ChatMessage",
    "ChatOptions",
    "ChatStream",
    "Classification",
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
    "McpServer",
    "McpToolError",
    "ModelDetails",
    "ModelInfo",
    "ModelNotFoundError",
    "NoChatTemplateWarning",
    "NoKeyWarning",
    "NotARerankerWarning",
    "ParseAttempt",
    "ParseError",
    "ProgressCallback",
    "PromptCacheWarning",
    "RamalamaError",
    "RamalamaModel",
    "RamalamaNotInstalledError",
    "RamalamaRouter",
    "RankedDocument",
    "ReplyCutOffError",
    "RequestCancelledError",
    "ServerNotRunningError",
    "ServerStartError",
    "ServerStatus",
    "ServerTimeoutError",
    "StreamEvent",
    "TextCompletion",
    "TextStream",
    "ThinkingCutOffWarning",
    "TokenLogprob",
    "Tool",
    "ToolArgumentsError",
    "ToolCall",
    "ToolCallCutOffError",
    "ToolCallDict",
    "ToolRun",
    "ToolServerError",
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
