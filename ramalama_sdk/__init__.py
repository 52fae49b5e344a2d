"""Run a local LLM from Python the way you open a file.

    from ramalama_sdk import RamalamaModel

    with RamalamaModel(model="tinyllama") as model:
        print(model.chat("Hello")["content"])

The package drives the ``ramalama`` command-line tool: ``ramalama pull`` to
fetch a model, ``ramalama serve`` to run it, and the OpenAI chat schema over
HTTP to talk to it. See the README for every option.
"""

from .async_model import AsyncRamalamaModel
from .conversation import AsyncConversation, Conversation
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    DownloadError,
    ModelNotFoundError,
    RamalamaError,
    RamalamaNotInstalledError,
    ServerNotRunningError,
    ServerStartError,
    ServerTimeoutError,
)
from .management import ModelInfo, list_models, remove
from .progress import ProgressCallback
from .streams import AsyncChatStream, ChatStream
from .sync_model import RamalamaModel
from .types import ChatMessage, Completion, Usage

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
    "Completion",
    "Conversation",
    "DownloadError",
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
]
