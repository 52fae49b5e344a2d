"""The blocking shell of embeddings, rerank, tokens, details, text completion.

``RamalamaModel`` inherits these methods; each builds its request with a pure
module and waits for the answer through ``_call``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from .endpoints import completions, embeddings, info, tokens
from .endpoints.embeddings import RankedDocument
from .endpoints.info import ModelDetails
from .errors import APIError, RamalamaError
from .features import FeatureCore, check_flags, embed_result, optional_props
from .http.protocol import CHAT_PATH
from .text_streams import TextStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .chat_options import GenerationOptions


class SyncFeatures(FeatureCore):
    """More than chat, for ``RamalamaModel``."""

    def _call(self, method: str, path: str, body: bytes | None, *, root: bool = False) -> bytes:
        """Send one request and return the body of its 200 answer."""
        raise NotImplementedError

    def _open_text_stream(self, body: bytes) -> TextStream:
        raise NotImplementedError

    # -- what the model is -------------------------------------------------

    def info(self) -> ModelDetails:
        """What the served model is: the server's real context, training
        context, parameters, size, vision, tool support, chat template,
        slots, runtime and build (None where the server does not say).

            details = model.info()
            print(details.context_size, details.training_context, details.vision)
        """
        models = self._call("GET", info.MODELS_PATH, None)
        return self._details(models, self._props())

    def _props(self) -> bytes | None:
        if self._known_runtime() not in (None, "llama.cpp"):
            return None
        try:
            return self._call("GET", info.PROPS_PATH, None, root=True)
        except APIError as exc:
            if optional_props(exc):
                return None
            raise

    def _check_template(self, body: bytes = b"") -> None:
        """Warn (NoChatTemplateWarning) when the model has no chat template;
        UnsupportedError when ``body`` offers tools a template cannot take."""
        if self._template_unknown():
            try:
                props = self._props()
            except RamalamaError:  # best effort: the call itself reports a failure
                props = None
            self._learn_template(props)
        self._refuse_tools(body)
        self._warn_without_template()

    # -- tokens ------------------------------------------------------------

    def _vocabulary(self) -> int | None:
        known, size = self._known_vocabulary()
        if known:
            return size
        return self._learn_vocabulary(self._call("GET", info.MODELS_PATH, None))

    def tokenize(self, text: str, *, add_special: bool = False) -> list[int]:
        """The model's token ids for ``text`` (with BOS if ``add_special``)."""
        body = tokens.tokenize_body(text, add_special=add_special)
        return tokens.parse_tokens(self._call("POST", tokens.TOKENIZE_PATH, body, root=True))

    def detokenize(self, token_ids: Sequence[int]) -> str:
        """The text of a list of token ids; ValueError for an id beyond the
        vocabulary (its size is asked once per server)."""
        body = tokens.detokenize_body(token_ids)
        tokens.check_vocabulary(token_ids, self._vocabulary())
        answer = self._call("POST", tokens.DETOKENIZE_PATH, body, root=True)
        return tokens.parse_detokenized(answer)

    def count_tokens(self, text_or_messages: str | Sequence[Any]) -> int:
        """How many tokens of the context a prompt takes, as the server counts.

        A str is counted as a ``complete_text()`` prompt; a list of messages
        as a chat, through the model's chat template: the count equals the
        ``prompt_tokens`` that a ``complete()`` of those messages reports.
        A chat with images is counted by the server itself, which encodes
        them (a request for a one-token reply).
        """
        if tokens.is_messages(text_or_messages) and tokens.has_images(text_or_messages):
            body = tokens.count_body(self.options.model, text_or_messages)
            answer = self._call("POST", CHAT_PATH, body)
            return tokens.parse_prompt_tokens(answer)
        if tokens.is_messages(text_or_messages):
            body = tokens.template_body(text_or_messages)
            prompt = tokens.parse_prompt(
                self._call("POST", tokens.APPLY_TEMPLATE_PATH, body, root=True)
            )
        else:
            prompt = tokens.check_text(text_or_messages, "text_or_messages")
        return len(self.tokenize(prompt, add_special=True))

    # -- embeddings and rerank --------------------------------------------

    @overload
    def embed(
        self,
        texts: str | Sequence[str],
        *,
        normalize: bool = ...,
        batch_size: int = ...,
        numpy: Literal[False] = ...,
    ) -> list[list[float]]: ...

    @overload
    def embed(
        self,
        texts: str | Sequence[str],
        *,
        normalize: bool = ...,
        batch_size: int = ...,
        numpy: Literal[True],
    ) -> Any: ...

    def embed(
        self,
        texts: str | Sequence[str],
        *,
        normalize: bool = False,
        batch_size: int = embeddings.DEFAULT_BATCH_SIZE,
        numpy: bool = False,
    ) -> Any:
        """One embedding vector per text, in order (a str is a list of one).

            vectors = model.embed(["a cat", "a dog"], normalize=True)

        Needs a model served with ``embedding=True``. Long lists go in
        requests of ``batch_size`` texts. ``normalize=True`` scales each
        vector to unit length (llama-server already does by default);
        ``numpy=True`` returns one float32 array, a row per text.
        """
        checked = embeddings.check_texts(texts)
        size = embeddings.check_batch_size(batch_size)
        check_flags(normalize=normalize, numpy=numpy)
        self._check_embeddable()
        vectors: list[list[float]] = []
        for batch in embeddings.batches(checked, size):
            body = embeddings.embeddings_body(self.options.model, batch)
            answer = self._call("POST", embeddings.EMBEDDINGS_PATH, body)
            vectors += embeddings.parse_embeddings(answer, len(batch))
        return embed_result(vectors, normalize, numpy)

    def rerank(
        self, query: str, documents: Sequence[str], *, top_n: int | None = None
    ) -> list[RankedDocument]:
        """The documents ordered by relevance to ``query``, best first.

        Needs a reranker model served with ``rerank=True``. ``top_n`` keeps
        only the best ones. Each item has ``index`` (in ``documents``),
        ``document`` and ``score``.
        """
        body = embeddings.rerank_body(self.options.model, query, documents, top_n)
        docs = embeddings.check_texts(documents, "documents")
        answer = self._call("POST", embeddings.RERANK_PATH, body)
        return embeddings.parse_rerank(answer, docs, top_n)

    # -- text completion ---------------------------------------------------

    def complete_text(
        self, prompt: str, **options: Unpack[GenerationOptions]
    ) -> completions.TextCompletion:
        """Continue ``prompt`` (no chat template): for base models.

            result = model.complete_text("The capital of France is", max_tokens=8)
            print(result.text, result.finish_reason, result.usage.completion_tokens)

        Options as for ``chat()``: temperature, max_tokens, top_p, seed, stop.
        A text that may be long comes as a stream, as ``chat()``'s replies do.
        """
        if self._reply_streamed(options):
            stream = self.stream_text(prompt, **options)
            stream._read_all()
            return stream.result()
        body = completions.completion_body(self.options.model, prompt, options)
        answer = self._call("POST", completions.COMPLETIONS_PATH, body)
        return completions.parse_text_completion(answer)

    def stream_text(self, prompt: str, **options: Unpack[GenerationOptions]) -> TextStream:
        """``complete_text()``, streamed: iterate for text, then ``result()``."""
        body = completions.completion_body(self.options.model, prompt, options, stream=True)
        return self._open_text_stream(body)
