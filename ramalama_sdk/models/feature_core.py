"""What the sync and async models share beyond chat: decisions, no I/O.

Embeddings, rerank, tokens, model details and text completion each have a
pure module (``embeddings``, ``tokens``, ``info``, ``completions``); the
shells in ``sync_features`` and ``async_features`` only wait for the answers.
This core holds what both shells decide the same way.
"""

from __future__ import annotations

from dataclasses import replace

from .. import caller
from ..endpoints import info as info_module
from ..endpoints import status as status_module
from ..endpoints.info import ModelDetails
from ..endpoints.status import PropsFigures, ServerStatus
from ..errors import APIConnectionError, APIError, NoChatTemplateWarning, UnsupportedError
from ..http import protocol
from ..process import usage
from ..tools.definitions import tools_in_body
from .core import ModelCore

# (uptime, memory on the host, memory of the container) of a served model.
Measured = tuple[float | None, int | None, int | None]


class FeatureCore(ModelCore):
    """State and decisions shared by ``SyncFeatures`` and ``AsyncFeatures``."""

    # (the server or connection it was learnt from, has a chat template?,
    # does that template take tools?)
    _template_seen: tuple[object, bool | None, bool | None] | None = None

    # (the server or connection it was learnt from, its vocabulary size)
    _vocabulary_seen: tuple[object, int | None] | None = None

    def _server_key(self) -> object:
        """What identifies the current server: a new one is asked again."""
        return self._attached_url if self._attached_url is not None else self._server

    def _known_runtime(self) -> str | None:
        """The runtime, when this object serves the model itself."""
        return None if self._attached_url is not None else self.options.runtime

    def _details(self, models_body: bytes, props_body: bytes | None) -> ModelDetails:
        details = info_module.served_details(
            self.options.model, models_body, props_body, self._known_runtime()
        )
        self._template_seen = (
            self._server_key(),
            details.has_chat_template,
            details.supports_tools,
        )
        self._vocabulary_seen = (self._server_key(), details.vocabulary_size)
        return details

    def _known_vocabulary(self) -> tuple[bool, int | None]:
        """(whether the current server's vocabulary size is known, the size)."""
        seen = self._vocabulary_seen
        if seen is not None and seen[0] is self._server_key():
            return True, seen[1]
        return False, None

    def _learn_vocabulary(self, models_body: bytes | None) -> int | None:
        size = None
        if models_body is not None:
            try:
                size = info_module.vocabulary_size(models_body)
            except APIError:
                size = None
        self._vocabulary_seen = (self._server_key(), size)
        return size

    # (the server it was learnt from, the figures of its last /props answer)
    _props_seen: tuple[object, PropsFigures] | None = None

    def _measure(self) -> Measured:
        """(uptime, memory, container memory) of the server this object
        started; None each for a connected one. Blocking: psutil, the engine."""
        server = self._server
        if server is None or server.popen is None:
            return None, None, None
        pid = server.popen.pid
        inside = None
        if server.mode.container and server.name is not None:
            inside = usage.container_memory(server.mode.engine or "podman", server.name)
        return usage.uptime(pid), usage.tree_memory(pid), inside

    def _status(
        self, props_body: bytes | None, slots_body: bytes | None, measured: Measured
    ) -> ServerStatus:
        """status() from what the server answered in time (None: nothing)."""
        seen = self._props_seen
        try:
            figures = status_module.props_figures(props_body)
        except APIError:
            figures = PropsFigures()
        if props_body is not None:
            self._props_seen = (self._server_key(), figures)
        elif seen is not None and seen[0] is self._server_key():
            # Context and slots do not change while a server runs; whether it
            # sleeps does, and is not known now.
            figures = replace(seen[1], sleeping=None)
        server = self._server
        uptime, memory, container_memory = measured
        return ServerStatus(
            model=self.options.model,
            pid=server.popen.pid if server is not None and server.popen is not None else None,
            port=self.port,
            container=server.name if server is not None and server.mode.container else None,
            uptime=uptime,
            memory=memory,
            container_memory=container_memory,
            context_size=figures.context_size,
            slots=figures.slots,
            busy_slots=status_module.busy_slots(slots_body),
            sleeping=figures.sleeping,
        )

    def _metrics_error(self, error: APIError) -> APIError:
        """A refused ``GET /metrics`` as the user should read it."""
        if error.status in (404, 501):
            return UnsupportedError(
                f"{self.options.model!r} serves no metrics: serve it with metrics=True "
                f"(llama-server's --metrics). The server said: {error.message}",
                status=error.status,
                body=error.body,
            )
        return error

    def _check_embeddable(self) -> None:
        """A model this object serves for rerank gives meaningless embeddings
        (llama-server answers with its rank pooling): refuse before sending."""
        if self._attached_url is None and "--rerank" in self.options.runtime_args:
            raise UnsupportedError(
                f"{self.options.model!r} is served for rerank(): serve it with "
                "embedding=True for embed()"
            )

    def _template_unknown(self) -> bool:
        """Whether ``/props`` must be asked before warning about the template."""
        seen = self._template_seen
        if seen is not None and seen[0] is self._server_key():
            return False  # known for this server: the common case, kept cheap
        # vLLM and mlx have no /props; a stopped model fails anyway.
        return self._known_runtime() in (None, "llama.cpp") and self.is_running

    def _learn_template(self, props_body: bytes | None) -> None:
        has: bool | None = None
        tools: bool | None = None
        if props_body is not None:
            try:
                props = protocol.json_object(props_body)
            except APIError:
                props = {}
            template = props.get("chat_template")
            if isinstance(template, str) and template:
                has = template != info_module.FALLBACK_CHAT_TEMPLATE
            caps = props.get("chat_template_caps")
            if isinstance(caps, dict) and isinstance(caps.get("supports_tools"), bool):
                tools = caps["supports_tools"]
        self._template_seen = (self._server_key(), has, tools)

    def _refuse_tools(self, body: bytes) -> None:
        """UnsupportedError before a request with tools reaches a server whose
        chat template cannot render them: it would drop them silently."""
        seen = self._template_seen
        if seen is None or seen[0] is not self._server_key() or seen[2] is not False:
            return
        if tools_in_body(body):
            raise UnsupportedError(
                f"{self.options.model!r} cannot take tools: its chat template does not "
                "describe them (info().supports_tools is False), so the server would "
                "drop them and the model would never call one. Serve it with a chat "
                "template that renders tools (its model family's tool-use template), "
                "e.g. runtime_args=['--chat-template-file', '/path/to/template.jinja'], "
                "or use a model whose GGUF carries one (Qwen, Llama 3.1+, Mistral, ...)."
            )

    def _warn_without_template(self) -> None:
        seen = self._template_seen
        if seen is not None and seen[0] is self._server_key() and seen[1] is False:
            caller.warn(
                f"{self.options.model!r} has no chat template in its GGUF (a base "
                "model?): the server wraps the chat in a generic ChatML template the "
                "model never learnt, so replies may echo the prompt or show "
                "'<|im_end|>'. Use complete_text() for a base model.",
                NoChatTemplateWarning,
            )


def optional_props(error: BaseException) -> bool:
    """Whether a failed ``GET /props`` only means the server has none.

    vLLM and mlx answer 404; llama-server started with ``--no-endpoint-props``
    501. A connection failure is a real failure and is raised.
    """
    return isinstance(error, APIError) and not isinstance(error, APIConnectionError)


def embed_result(vectors: list[list[float]], normalize: bool, numpy: bool) -> object:
    from ..endpoints.embeddings import as_numpy, normalized

    if normalize:
        vectors = [normalized(v) for v in vectors]
    return as_numpy(vectors) if numpy else vectors


def check_flags(**flags: object) -> None:
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False")
    if flags.get("numpy"):
        try:
            import numpy  # noqa: F401  (before anything is sent)
        except ImportError:
            raise ImportError("numpy=True needs numpy: pip install numpy") from None
