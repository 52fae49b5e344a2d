"""What a model is: its context, size, capabilities, template. Pure parsing.

``ModelDetails`` is filled from two sources, with the same meaning:

- a running server: llama-server's ``GET /props`` and ``GET /v1/models``
  (its ``meta``); vLLM's ``/v1/models`` (``max_model_len``); mlx reports
  nothing but the name;
- the store, offline: ``ramalama inspect --all --json`` (the GGUF's metadata
  and tensor list) and the file itself.

A fact a source does not give is None, never a guess.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import APIError
from ..http.protocol import json_object

# The template llama-server falls back to when a GGUF has none (common/chat.cpp).
# /props then shows exactly this text: it is how a missing template is recognised.
FALLBACK_CHAT_TEMPLATE = (
    "{%- for message in messages -%}\n"
    "  {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' -}}\n"
    "{%- endfor -%}\n"
    "{%- if add_generation_prompt -%}\n"
    "  {{- '<|im_start|>assistant\n' -}}\n"
    "{%- endif -%}"
)
PROPS_PATH = "/props"  # a root path, not under /v1
MODELS_PATH = "/models"


@dataclass(frozen=True)
class ModelDetails:
    """What a served (``model.info()``) or stored (``inspect()``) model is.

    Every field but ``name`` is None when its source does not say: vLLM
    reports only the context; mlx nothing but the name; a model in the store
    has no server, so no ``context_size``, ``slots``, ``runtime`` or ``build``.

    - ``context_size``: the tokens one request may use on this server (its
      context divided among the ``slots``); llama-server may choose less than
      the model was trained for, and a prompt beyond it is refused;
    - ``training_context``: the context the model was trained with;
    - ``parameters``: number of weights;
    - ``size``: from a server (``info()``), the bytes of the weights it
      loaded (llama-server's count of the tensors, a little less than the
      file, which also holds the vocabulary and metadata); from the store
      (``inspect()``), the bytes of the stored file;
    - ``vision``: takes images (a vision projector is loaded, or stored);
    - ``supports_tools``: the chat template renders tool definitions;
    - ``chat_template``: the Jinja template the server applies to chats;
    - ``has_chat_template``: False for a GGUF without one (a base model),
      which the server wraps in a generic ChatML template;
    - ``slots``: requests served at once; ``runtime``/``build``: the server;
    - ``vocabulary_size``: how many token ids the model has (ids are below it).
    - ``sleeping``: llama-server has unloaded the model after ``sleep_after``
      idle seconds (the next request loads it again); None where unknown.
    """

    name: str
    context_size: int | None = None
    training_context: int | None = None
    parameters: int | None = None
    size: int | None = None
    vision: bool | None = None
    supports_tools: bool | None = None
    chat_template: str | None = None
    has_chat_template: bool | None = None
    slots: int | None = None
    runtime: str | None = None
    build: str | None = None
    architecture: str | None = None
    embedding_length: int | None = None
    vocabulary_size: int | None = None
    sleeping: bool | None = None


def vocabulary_size(models_body: bytes | str) -> int | None:
    """The vocabulary size in a llama-server ``/v1/models`` answer (its ``meta``).

    >>> vocabulary_size(b'{"data":[{"id":"m","meta":{"n_vocab":800}}]}')
    800
    >>> vocabulary_size(b'{"data":[{"id":"m"}]}') is None
    True
    """
    meta = _first_model(models_body).get("meta")
    return _int(meta.get("n_vocab")) if isinstance(meta, Mapping) else None


def served_details(
    name: str, models_body: bytes | str, props_body: bytes | str | None, runtime: str | None
) -> ModelDetails:
    """Details from a server's ``/v1/models`` and (llama-server only) ``/props``.

    ``runtime`` is what the caller knows (a served model's option); for a
    connected server it is None and learnt from the answers.
    """
    entry = _first_model(models_body)
    meta: Mapping[str, Any] = entry["meta"] if isinstance(entry.get("meta"), Mapping) else {}
    props = json_object(props_body) if props_body is not None else {}
    if runtime is None:
        if props.get("build_info") is not None or entry.get("owned_by") == "llamacpp":
            runtime = "llama.cpp"
        elif entry.get("owned_by") == "vllm":
            runtime = "vllm"
    settings = props.get("default_generation_settings")
    n_ctx = _int(settings.get("n_ctx")) if isinstance(settings, Mapping) else None
    modalities = props.get("modalities")
    caps = props.get("chat_template_caps")
    template = props.get("chat_template") if isinstance(props.get("chat_template"), str) else None
    return ModelDetails(
        name=_str(entry.get("id")) or name,
        context_size=n_ctx or _int(meta.get("n_ctx")) or _int(entry.get("max_model_len")),
        training_context=_int(meta.get("n_ctx_train")),
        parameters=_int(meta.get("n_params")),
        size=_int(meta.get("size")),
        vision=_bool(modalities.get("vision")) if isinstance(modalities, Mapping) else None,
        supports_tools=_bool(caps.get("supports_tools")) if isinstance(caps, Mapping) else None,
        chat_template=template or None,
        has_chat_template=None if template is None else template != FALLBACK_CHAT_TEMPLATE,
        slots=_int(props.get("total_slots")),
        runtime=runtime,
        build=_str(props.get("build_info")),
        embedding_length=_int(meta.get("n_embd")),
        vocabulary_size=_int(meta.get("n_vocab")),
        sleeping=_bool(props.get("is_sleeping")),
    )


def stored_details(name: str, inspect_json: str | bytes) -> ModelDetails:
    """Details from ``ramalama inspect --all --json`` of a GGUF in the store."""
    data = json_object(inspect_json)
    metadata = data.get("Metadata")
    fields = metadata.get("data") if isinstance(metadata, Mapping) else None
    fields = fields if isinstance(fields, Mapping) else {}
    arch = _str(fields.get("general.architecture"))
    template = _str(fields.get("tokenizer.chat_template"))
    path = _str(data.get("Path"))
    size: int | None = None
    if path is not None:
        try:
            size = Path(path).stat().st_size
        except OSError:
            size = None
    is_gguf = data.get("Format") == "GGUF"
    return ModelDetails(
        name=name,
        training_context=_int(fields.get(f"{arch}.context_length")) if arch else None,
        parameters=_count_parameters(data.get("Tensors")),
        size=size,
        vision=_stored_projector(path) if path else None,
        chat_template=template,
        has_chat_template=(template is not None) if is_gguf else None,
        architecture=arch,
        embedding_length=_int(fields.get(f"{arch}.embedding_length")) if arch else None,
    )


def _count_parameters(tensors: object) -> int | None:
    if not isinstance(tensors, list) or not tensors:
        return None
    total = 0
    for tensor in tensors:
        dims = tensor.get("dimensions") if isinstance(tensor, Mapping) else None
        if not isinstance(dims, list) or not all(_int(d) is not None for d in dims):
            return None
        total += math.prod(dims)
    return total


def _stored_projector(model_path: str) -> bool | None:
    """Whether ramalama stored a vision projector (mmproj) beside the model.

    Read from the model's ref file in the store (``refs/*.json`` beside
    ``blobs/``), whose entries carry a ``type``; None if that is not there.
    """
    refs = Path(model_path).parent.parent / "refs"
    found: bool | None = None
    try:
        ref_files = sorted(refs.glob("*.json"))
    except OSError:
        return None
    for ref in ref_files:
        try:
            files = json.loads(ref.read_text(encoding="utf-8")).get("files", [])
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(files, list):
            found = bool(found) or any(
                isinstance(f, Mapping) and f.get("type") == "mmproj" for f in files
            )
    return found


def _first_model(body: bytes | str) -> Mapping[str, Any]:
    data = json_object(body)
    models = data.get("data")
    if isinstance(models, list) and models and isinstance(models[0], Mapping):
        return models[0]
    raise APIError(f"the server lists no model: {str(body)[:200]}", body=data)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
