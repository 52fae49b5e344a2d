# Generated from ramalama_sdk/models/_async/features.py by scripts/make_sync.py: do not edit.
# Change the async source, then run `make unasync`.
"""The shell of embeddings, rerank, tokens, details, text completion.

The model class inherits these methods; each builds its request with a pure
module (``endpoints/``) and waits for the answer through ``_call``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from ...endpoints import classify, completions, embeddings, info, tokens
from ...endpoints import status as status_module
from ...endpoints.embeddings import RankedDocument
from ...endpoints.info import ModelDetails
from ...endpoints.status import ServerStatus
from ...errors import APIError
from ...http import protocol
from ...http.text import check_text
from ..feature_core import check_flags, embed_result
from . import io
from .client import SyncClient
from .text_streams import TextStream

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ...chat_options import GenerationOptions
    from ...http.cancelling import CancelToken
    from ...tools.definitions import ToolLike
    from ...types import ChatMessage


class SyncFeatures(SyncClient):
    """More than chat, for the model class."""

    def _open_text_stream(self, body: bytes, cancel: CancelToken | None = None) -> TextStream:
        shared, token = self._in_flight.for_stream(cancel)
        opened = self._stream_io(completions.COMPLETIONS_PATH, body, chat=False)
        return TextStream(*opened, cancel=shared, token=token)

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

    # -- what it costs -----------------------------------------------------

    def status(self) -> ServerStatus:
        """What the server costs and does now: memory, context, slots in use,
        uptime, pid, port, container. Waits at most a few seconds for the
        server (``busy_slots`` is None when it is too busy to answer).

            print(model.status())
            # ServerStatus(model='tinyllama', pid=4242, port=8081, ..., memory=...)
        """
        transport = self._live_transport()
        props = slots = None
        if self._known_runtime() in (None, "llama.cpp"):
            headers, limit = self._headers(), status_module.STATUS_TIMEOUT
            slots = transport.peek(status_module.SLOTS_PATH, headers, limit)
            props = transport.peek(info.PROPS_PATH, headers, limit)
        return self._status(props, slots, io.to_thread(self._measure))

    def metrics(self) -> dict[str, float]:
        """llama-server's Prometheus figures (``/metrics``) as ``{name: value}``;
        a model served with ``metrics=True``, else UnsupportedError.

            figures = model.metrics()
            print(figures["llamacpp:prompt_tokens_total"])
        """
        try:
            body = self._call("GET", status_module.METRICS_PATH, None, root=True)
        except APIError as exc:
            raise self._metrics_error(exc) from None
        return status_module.parse_metrics(body)

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

    def count_tokens(
        self, text_or_messages: str | Sequence[Any], *, tools: Sequence[ToolLike] | None = None
    ) -> int:
        """How many tokens of the context a prompt takes, as the server counts.

        A str is counted as a ``complete_text()`` prompt; a list of messages
        as a chat, through the model's chat template: the count equals the
        ``prompt_tokens`` that a ``complete()`` of those messages reports.
        ``tools``: the tools of the chat, as ``chat(tools=...)`` takes them;
        the template writes their schemas into the prompt, and they are
        counted too (UnsupportedError, as for ``chat()``, when the model's
        template cannot take tools).
        A chat with images is counted by the server itself, which encodes
        them (a request for a one-token reply).
        """
        schemas = tokens.count_tools(text_or_messages, tools)
        if tokens.is_messages(text_or_messages) and tokens.has_images(text_or_messages):
            body = tokens.count_body(self.options.model, text_or_messages, schemas)
            if schemas is not None:
                self._check_tools(body)
            answer = self._call("POST", protocol.CHAT_PATH, body)
            return tokens.parse_prompt_tokens(answer)
        if tokens.is_messages(text_or_messages):
            body = tokens.template_body(text_or_messages, schemas)
            if schemas is not None:
                self._check_tools(body)
            prompt = tokens.parse_prompt(
                self._call("POST", tokens.APPLY_TEMPLATE_PATH, body, root=True)
            )
        else:
            prompt = check_text(text_or_messages, "text_or_messages")
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
        cancel: CancelToken | None = ...,
    ) -> list[list[float]]: ...

    @overload
    def embed(
        self,
        texts: str | Sequence[str],
        *,
        normalize: bool = ...,
        batch_size: int = ...,
        numpy: Literal[True],
        cancel: CancelToken | None = ...,
    ) -> Any: ...

    def embed(
        self,
        texts: str | Sequence[str],
        *,
        normalize: bool = False,
        batch_size: int = embeddings.DEFAULT_BATCH_SIZE,
        numpy: bool = False,
        cancel: CancelToken | None = None,
    ) -> Any:
        """One embedding vector per text, in order (a str is a list of one).

            vectors = model.embed(["a cat", "a dog"], normalize=True)

        Needs a model served with ``embedding=True``. Long lists go in
        requests of ``batch_size`` texts. ``normalize=True`` scales each
        vector to unit length (llama-server already does by default);
        ``numpy=True`` returns one float32 array, a row per text.
        ``cancel``: a CancelToken that stops this call alone (the batches
        not yet sent are never sent); ``model.cancel()`` reaches it too.
        """
        checked = embeddings.check_texts(texts)
        size = embeddings.check_batch_size(batch_size)
        check_flags(normalize=normalize, numpy=numpy)
        self._check_embeddable()
        vectors: list[list[float]] = []
        with self._in_flight.call(cancel):
            for batch in embeddings.batches(checked, size):
                body = embeddings.embeddings_body(self.options.model, batch)
                answer = self._call("POST", embeddings.EMBEDDINGS_PATH, body)
                vectors += embeddings.parse_embeddings(answer, len(batch))
        return embed_result(vectors, normalize, numpy)

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        cancel: CancelToken | None = None,
    ) -> list[RankedDocument]:
        """The documents ordered by relevance to ``query``, best first.

        Needs a reranker model served with ``rerank=True``. ``top_n`` keeps
        only the best ones. Each item has ``index`` (in ``documents``),
        ``document`` and ``score``. ``cancel``: as for ``embed()``.
        """
        body = embeddings.rerank_body(self.options.model, query, documents, top_n)
        docs = embeddings.check_texts(documents, "documents")
        with self._in_flight.call(cancel):
            answer = self._call("POST", embeddings.RERANK_PATH, body)
        return embeddings.parse_rerank(answer, docs, top_n)

    # -- choosing among labels -----------------------------------------------

    def classify(
        self,
        text: str,
        labels: Sequence[str],
        *,
        instruction: str = classify.DEFAULT_INSTRUCTION,
        history: list[ChatMessage] | None = None,
        cancel: CancelToken | None = None,
    ) -> classify.Classification:
        """Which of ``labels`` the model gives ``text``, with a probability each.

            result = model.classify("I love it!", ["positive", "negative"],
                                    instruction="The sentiment of the text?")
            print(result.label, result.probabilities)   # probabilities sum to 1

        Each label is scored by the model's own probability of answering it
        (one short request per label, on any chat model; one after the other,
        so that the first request fills the prompt cache for the rest).
        ``cancel``: a CancelToken that stops this call alone (the labels not
        yet asked about are never asked); ``model.cancel()`` reaches it too.
        """
        checked = classify.check_labels(labels)
        messages = classify.prompt_messages(text, checked, instruction, history)
        scores = {}
        with self._in_flight.call(cancel):
            for label in checked:
                ids = self.tokenize(label)
                body = classify.forced_body(self.options.model, messages, ids)
                answer = self._call("POST", protocol.CHAT_PATH, body)
                scores[label] = classify.label_logprob(
                    label, protocol.parse_completion(answer), len(ids)
                )
        return classify.classification(scores)

    def score(
        self,
        text: str,
        *,
        instruction: str = "Answer the question.",
        history: list[ChatMessage] | None = None,
        cancel: CancelToken | None = None,
    ) -> float:
        """The probability that the model answers Yes (against No) to ``text``.

        model.score("Is this review positive? 'Great phone!'")   # e.g. 0.93
        """
        labels = [classify.YES, classify.NO]
        result = self.classify(
            text, labels, instruction=instruction, history=history, cancel=cancel
        )
        return result.probabilities[classify.YES]

    # -- text completion ---------------------------------------------------

    def complete_text(
        self,
        prompt: str,
        *,
        cancel: CancelToken | None = None,
        **options: Unpack[GenerationOptions],
    ) -> completions.TextCompletion:
        """Continue ``prompt`` (no chat template): for base models.

            result = model.complete_text("The capital of France is", max_tokens=8)
            print(result.text, result.finish_reason, result.usage.completion_tokens)

        Options as for ``chat()``: temperature, max_tokens, top_p, seed, stop.
        A text that may be long comes as a stream, as ``chat()``'s replies do.
        ``cancel``: a CancelToken that stops this call alone.
        """
        return self._complete_text(prompt, options, cancel=cancel)

    def _complete_text(
        self,
        prompt: str,
        options: Mapping[str, Any],
        target: str | None = None,
        cancel: CancelToken | None = None,
    ) -> completions.TextCompletion:
        """complete_text(); ``target``: the model a router serves."""
        with self._in_flight.call(cancel):
            if self._reply_streamed(options):
                stream = self._stream_text(prompt, options, target)
                stream._read_all()
                return stream.result()
            body = completions.completion_body(self._target(target), prompt, options)
            answer = self._call("POST", completions.COMPLETIONS_PATH, body)
            return completions.parse_text_completion(answer)

    def stream_text(
        self,
        prompt: str,
        *,
        cancel: CancelToken | None = None,
        **options: Unpack[GenerationOptions],
    ) -> TextStream:
        """``complete_text()``, streamed: iterate for text, then ``result()``."""
        return self._stream_text(prompt, options, cancel=cancel)

    def _stream_text(
        self,
        prompt: str,
        options: Mapping[str, Any],
        target: str | None = None,
        cancel: CancelToken | None = None,
    ) -> TextStream:
        name = self._target(target)
        body = completions.completion_body(name, prompt, options, stream=True)
        return self._open_text_stream(body, cancel)

    # -- prompts that outlive the server -----------------------------------

    def save_prompt(self) -> list[Path]:
        """Save the server's prompt states to the ``prompt_cache`` folder now
        (``stop()`` does it too); return the state files kept."""
        return io.to_thread(self._save_prompt)
