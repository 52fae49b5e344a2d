"""The exceptions raised by ramalama_sdk.

Every error derives from :class:`RamalamaError`, and most also derive from the
matching built-in, so both ``except RamalamaError`` and, say,
``except TimeoutError`` catch a readiness timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, TypeVar

if TYPE_CHECKING:
    from typing_extensions import TypedDict, Unpack

    from .agents.agent import ToolRun
    from .agents.parsing import ParseAttempt
    from .types import ChatMessage


def _with_log(message: str, log_tail: Sequence[str]) -> str:
    if not log_tail:
        return message
    return message + "\n--- last lines of the server log ---\n" + "\n".join(log_tail)


class RamalamaError(Exception):
    """Base class of every error raised by ramalama_sdk."""


class RamalamaNotInstalledError(RamalamaError, FileNotFoundError):
    """The ``ramalama`` executable cannot be found."""

    def __init__(self, searched: str) -> None:
        super().__init__(
            "the 'ramalama' command was not found (searched: "
            f"{searched}); install it with 'pip install ramalama'"
        )


class CommandError(RamalamaError):
    """A ramalama command for a model failed; what it printed is in ``output``."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        output: str = "",
    ) -> None:
        super().__init__(message)
        self.model = model
        self.command = list(command)
        self.exit_code = exit_code
        self.output = output


class DownloadError(CommandError):
    """``ramalama pull`` failed for a model (network, registry, store)."""


class ModelNotFoundError(DownloadError, LookupError):
    """The model name or file does not exist."""


class GenerateError(CommandError, RuntimeError):
    """``ramalama serve --generate`` failed; ``kind`` is what was asked for."""

    def __init__(
        self,
        message: str,
        *,
        model: str,
        kind: str,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        output: str = "",
    ) -> None:
        super().__init__(message, model=model, command=command, exit_code=exit_code, output=output)
        self.kind = kind


class GenerateTimeoutError(GenerateError, TimeoutError):
    """``ramalama serve --generate`` did not finish within its timeout."""


class ServerNotRunningError(RamalamaError, RuntimeError):
    """An operation needs a serving model, and none is serving."""


class ServerStartError(RamalamaError, RuntimeError):
    """The server process exited while it was starting.

    ``exit_code`` is the exit status of ``ramalama serve``; ``log_tail`` holds
    the last lines it wrote, which usually say why (and are in the message).
    """

    def __init__(
        self,
        reason: str,
        *,
        model: str,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        log_tail: Sequence[str] = (),
    ) -> None:
        code = "" if exit_code is None else f" (exit code {exit_code})"
        super().__init__(_with_log(f"serving {model!r} failed{code}: {reason}", log_tail))
        self.reason = reason
        self.model = model
        self.command = list(command)
        self.exit_code = exit_code
        self.log_tail = list(log_tail)


class ServerTimeoutError(RamalamaError, TimeoutError):
    """The server did not become ready within the ``timeout``."""

    def __init__(self, model: str, timeout: float, log_tail: Sequence[str] = ()) -> None:
        super().__init__(
            _with_log(
                f"{model!r} was not ready after {timeout:g} s; the server was "
                "stopped (a larger 'timeout' gives it more time)",
                log_tail,
            )
        )
        self.model = model
        self.timeout = timeout
        self.log_tail = list(log_tail)


class APIError(RamalamaError):
    """The server answered a request with an error.

    ``status`` is the HTTP status (None when no answer came), ``message`` the
    server's own explanation.
    """

    def __init__(self, message: str, *, status: int | None = None, body: object = None) -> None:
        prefix = f"HTTP {status}: " if status is not None else ""
        super().__init__(prefix + message)
        self.message = message
        self.status = status
        self.body = body


class APIConnectionError(APIError, ConnectionError):
    """The request could not reach the server, or the connection broke."""


class APITimeoutError(APIConnectionError, TimeoutError):
    """The server did not answer a request within its timeout."""


class RequestCancelledError(RamalamaError):
    """``model.cancel()``, or the CancelToken given as ``cancel=``, stopped
    this call while it was in flight (or, for a token already cancelled,
    before it sent anything); the message says which.

    The server stopped generating (or never began), and the model keeps
    working: the next call is served as usual. Raised the same way in sync
    and async code. It is not ``asyncio.CancelledError``, which is a
    ``BaseException`` and means that the task itself was cancelled: a call
    stopped by another task or thread is an ordinary failure of that call.
    """


class JinjaRequiredError(APIError):
    """The server renders chat templates without Jinja, so it refuses tools.

    llama-server answers ``tools param requires --jinja flag`` when started
    with ``--no-jinja`` (or, in builds older than late 2025, without
    ``--jinja``). Serve with ``runtime_args=["--jinja"]``.
    """


class MaxRoundsError(RamalamaError, RuntimeError):
    """``act()`` reached ``max_rounds`` and the model still called tools.

    ``messages`` is the transcript so far (valid history to continue from);
    ``tool_runs`` every tool call with its result.
    """

    def __init__(
        self, message: str, *, messages: Sequence[ChatMessage], tool_runs: Sequence[ToolRun]
    ) -> None:
        super().__init__(message)
        self.messages = list(messages)
        self.tool_runs = list(tool_runs)


class ToolServerError(RamalamaError, ConnectionError):
    """An MCP server given as a tool source could not be started or reached,
    or died; its message names the server and what it logged."""


class ParseError(RamalamaError, ValueError):
    """``parse()`` got no reply that validates; ``attempts`` holds each raw
    reply with its validation error, the last one last."""

    def __init__(self, message: str, *, attempts: Sequence[ParseAttempt] = ()) -> None:
        super().__init__(message)
        self.attempts = list(attempts)


class ReplyCutOffError(ParseError):
    """The reply ended at ``max_tokens`` before it was complete (so it is not
    valid JSON, or not an answer at all): raise ``max_tokens``."""


class ToolCallCutOffError(ReplyCutOffError):
    """A tool call of ``act()`` ended at ``max_tokens`` before its arguments
    were complete, so it could not run: raise ``max_tokens``.

    ``messages`` is the transcript, the cut-off call and the tool message
    telling the model so included; ``tool_runs`` every call so far.
    """

    def __init__(
        self, message: str, *, messages: Sequence[ChatMessage], tool_runs: Sequence[ToolRun]
    ) -> None:
        super().__init__(message)
        self.messages = list(messages)
        self.tool_runs = list(tool_runs)


class ContextLengthError(APIError, ValueError):
    """A prompt or input is longer than the server can take.

    ``prompt_tokens`` is its length in tokens and ``limit`` the most the
    server takes (``limit_kind`` says which limit: ``"context"``, the context
    window of one slot, or ``"batch"``, the batch that an embedding or rerank
    input must fit in). Either may be None when the server did not say.
    """

    def __init__(
        self,
        message: str,
        *,
        prompt_tokens: int | None,
        limit: int | None,
        limit_kind: str = "context",
        status: int | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message, status=status, body=body)
        self.prompt_tokens = prompt_tokens
        self.limit = limit
        self.limit_kind = limit_kind

    @property
    def context_size(self) -> int | None:
        """The context size in tokens, when the context was the limit hit."""
        return self.limit if self.limit_kind == "context" else None


class UnsupportedError(APIError, NotImplementedError):
    """The served model or server cannot do what was asked: embeddings from a
    server not started for them, images for a model without vision, ..."""


class NoChatTemplateWarning(UserWarning):
    """``chat()`` on a model whose GGUF has no chat template.

    The server then wraps the messages in a generic template (ChatML) that
    the model never learnt, and replies tend to echo the prompt or leak
    markers such as ``<|im_end|>``. A base model is better used through
    ``complete_text()``.
    """


class PromptCacheWarning(UserWarning):
    """A saved prompt state was not restored or not kept (``prompt_cache``).

    It was made for another model file, context size, cache type or
    llama-server build; or it is truncated or corrupt (then it is deleted);
    or the server refused it; or a save failed. The server serves on, and
    the prompt is processed again as if nothing had been saved.
    """


class NotARerankerWarning(UserWarning):
    """``rerank=True`` for a model whose GGUF is not a reranker's.

    A reranker declares rank pooling, or has a classification head; any other
    model served with ``--rerank`` answers with scores that mean nothing.
    """


_Failure = TypeVar("_Failure", bound="_ContainerModeError")

if TYPE_CHECKING:

    class _FailureContext(TypedDict, total=False):
        """What a container-mode failure takes beside its subject and model."""

        command: Sequence[str]
        exit_code: int | None
        log_tail: Sequence[str]
        on_host: bool


class _ContainerModeError(ServerStartError):
    """Container mode could not serve because of ``subject`` (an image, an
    engine), not the model; the way out is on the host, unless ``on_host`` is
    False (a router runs in a container only)."""

    # The message: what failed ({subject}, {detail}), then the way out.
    _FAILED: ClassVar[str]
    _ON_HOST: ClassVar[str]
    _IN_CONTAINER: ClassVar[str]

    def __init__(
        self,
        subject: str,
        detail: str,
        *,
        model: str,
        command: Sequence[str] = (),
        exit_code: int | None = None,
        log_tail: Sequence[str] = (),
        on_host: bool = True,
    ) -> None:
        instead = self._ON_HOST if on_host else self._IN_CONTAINER
        super().__init__(
            self._FAILED.format(subject=subject, detail=detail) + instead,
            model=model,
            command=command,
            exit_code=exit_code,
            log_tail=log_tail,
        )
        self._subject = subject
        self.detail = detail

    def in_container_only(self: _Failure) -> _Failure:
        """The same failure, for what can only run in a container (a router)."""
        return type(self)(
            self._subject,
            self.detail,
            model=self.model,
            command=self.command,
            exit_code=self.exit_code,
            log_tail=self.log_tail,
            on_host=False,
        )


class ImagePullError(_ContainerModeError):
    """Container mode: the server's container image could not be pulled.

    The model is not at fault. ``image`` names the image; choose another
    with ``base_image=...``, or serve without containers (``container=False``)
    where that can be done (``on_host``: a router cannot).
    """

    _FAILED = (
        "the container image {subject!r} could not be pulled ({detail}); choose "
        "another with base_image=..."
    )
    _ON_HOST = ", or serve without containers with container=False"
    _IN_CONTAINER = (
        " (router mode runs in a container only), or make the image available "
        "to the engine (podman pull, or a registry it reaches)"
    )

    def __init__(
        self, image: str, detail: str, *, model: str, **context: Unpack[_FailureContext]
    ) -> None:
        super().__init__(image, detail, model=model, **context)
        self.image = image


class ContainerEngineError(_ContainerModeError):
    """Container mode: the engine answers but could not run the server's container.

    ``engine`` names it; ``container=False`` serves on the host instead,
    where that can be done (``on_host``: a router cannot).
    """

    _FAILED = (
        "{subject} could not run the server's container ({detail}); fix the engine "
        "(its settings are in containers.conf)"
    )
    _ON_HOST = " or serve without containers with container=False"
    _IN_CONTAINER = " (router mode runs in a container only)"

    def __init__(
        self, engine: str, detail: str, *, model: str, **context: Unpack[_FailureContext]
    ) -> None:
        super().__init__(engine, detail, model=model, **context)
        self.engine = engine
