"""A tiny, real llama GGUF model for tests: ``tiny_model()``.

Its chat template is in tiny_llama_templates.py, its vocabulary and weights
in tiny_llama_weights.py; here the variant's file name and the GGUF file.
"""

from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

from . import tiny_llama_templates as templates
from . import tiny_llama_weights as weights
from .whole_file import write_whole

_FILE_NAME = "tiny-llama.gguf"
_POOLINGS = (None, "mean", "cls", "last", "rank")

# For quantized=True: which matrices get which type (rows of 64 or 128
# values, a whole number of the 32-value blocks of all three).
_QUANTIZE = {
    "attn_q.weight": "Q4_0",
    "attn_k.weight": "Q5_0",
    "attn_v.weight": "Q8_0",
    "attn_output.weight": "Q4_0",
    "ffn_gate.weight": "Q5_0",
    "ffn_up.weight": "Q8_0",
    "ffn_down.weight": "Q4_0",
    "output.weight": "Q8_0",
}


def tiny_model(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    tools: bool = False,
    thinking: bool = False,
    quantized: bool = False,
    chat_template: bool = True,
    pooling: str | None = None,
) -> pathlib.Path:
    """Write a tiny random-weights llama GGUF model and return its absolute path.

    The model has 2 layers, 64-dimensional embeddings, an 800-token
    SentencePiece-style vocabulary with byte fallback (any text tokenizes)
    and a ChatML chat template; it is under 1 MB and llama-server serves it,
    JSON-schema constrained replies included. The same ``seed`` always gives
    the same bytes.

    ``tools=True`` gives it a chat template that describes tools and writes
    tool calls in the Hermes ``<tool_call>`` form: llama-server then returns
    parsed ``tool_calls``, and with ``tool_choice="required"`` a grammar makes
    even these random weights call a tool with arguments of the right types.
    ``thinking=True`` gives it a template that opens ``<think>`` in the
    generation prompt, as thinking models do: what it generates is
    reasoning until ``</think>`` (llama-server can force that tag after N
    tokens: ``extra_body={"thinking_budget_tokens": N}``), its answer after.

    ``quantized=True`` stores the layers' matrices as Q4_0, Q5_0 and Q8_0
    (the rest stays F32): a model that exercises the quantized kernels,
    which are the first to fail on a CPU a llama-server was not built for.

    ``chat_template=False`` leaves the template out, as in a base model
    (which llama-server then chats with through a generic ChatML template).
    ``pooling`` (``"mean"``, ``"cls"`` or ``"last"``) declares how the model
    pools embeddings, as embedding models do; ``"rank"`` declares it a
    reranker (``rerank=True``); by default it declares none.

    If ``path`` is a directory, the file is ``tiny-llama.gguf`` inside it for
    the default model, and a name that says what differs for every other
    (``tiny-llama-tools.gguf``, ``tiny-llama-base-pooling-mean.gguf``,
    ``tiny-llama-thinking-seed3.gguf``, ...; see ``_variant_name()``): two
    different models never share a name, so a model store that keeps the
    copy it already has never serves one for the other.
    The model is written to a temporary file beside the target and renamed
    into place, so a partial model never appears at the target.

    Example::

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     model = tiny_model(tmp)
        ...     print(model.name, model.stat().st_size < 1_000_000)
        tiny-llama.gguf True
    """
    # Checked up front so that a missing test extra gets an actionable message.
    try:
        import gguf  # noqa: F401
        import numpy as np
    except ImportError as exc:
        raise ImportError(
            "tiny_model() needs the gguf and numpy packages: "
            'pip install "./ramalama-sdk[testing]" from a clone of this repository '
            "(or: pip install gguf numpy)"
        ) from exc

    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be 'mean', 'cls', 'last', 'rank' or None, not {pooling!r}")
    target = pathlib.Path(path).expanduser().absolute()
    if target.is_dir():
        target = target / _variant_name(
            seed=seed,
            tools=tools,
            thinking=thinking,
            quantized=quantized,
            chat_template=chat_template,
            pooling=pooling,
        )

    tokens, scores, types = weights.vocabulary([weights.TOOL_CALL] if tools else [])
    biases = weights.output_biases(tools, thinking)
    tensors = weights.random_tensors(np.random.default_rng(seed), tokens, types, biases)
    quantize = _QUANTIZE if quantized else {}

    template = templates.chat_template(tools, thinking) if chat_template else None
    write_whole(
        target,
        lambda name: _write(name, tokens, scores, types, tensors, template, quantize, pooling),
    )
    return target


def _variant_name(
    *,
    seed: int = 0,
    tools: bool = False,
    thinking: bool = False,
    quantized: bool = False,
    chat_template: bool = True,
    pooling: str | None = None,
) -> str:
    """The file name :func:`tiny_model` gives a variant in a directory: one
    part per choice that changes the bytes, so no two variants share one.

    >>> _variant_name(), _variant_name(tools=True), _variant_name(seed=3)
    ('tiny-llama.gguf', 'tiny-llama-tools.gguf', 'tiny-llama-seed3.gguf')
    >>> _variant_name(chat_template=False, pooling="mean")
    'tiny-llama-base-pooling-mean.gguf'
    """
    chosen = (
        ("tools", tools),
        ("thinking", thinking),
        ("quantized", quantized),
        ("base", not chat_template),
        (f"pooling-{pooling}", pooling is not None),
        (f"seed{seed}", seed != 0),
    )
    suffix = "".join(f"-{name}" for name, on in chosen if on)
    return _FILE_NAME.replace(".gguf", f"{suffix}.gguf")


def _write(
    file_name: str,
    tokens: list[str],
    scores: list[float],
    types: list[int],
    tensors: dict[str, npt.NDArray[np.float32]],
    chat_template: str | None,
    quantize: dict[str, str],
    pooling: str | None,
) -> None:
    import gguf

    writer = gguf.GGUFWriter(file_name, "llama")
    try:
        writer.add_name("tiny-llama")
        writer.add_context_length(weights.N_CTX)
        writer.add_embedding_length(weights.N_EMBD)
        writer.add_block_count(weights.N_LAYER)
        writer.add_feed_forward_length(weights.N_FF)
        writer.add_head_count(weights.N_HEAD)
        writer.add_head_count_kv(weights.N_HEAD)
        writer.add_rope_dimension_count(weights.N_EMBD // weights.N_HEAD)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_file_type(
            gguf.LlamaFileType.MOSTLY_Q8_0 if quantize else gguf.LlamaFileType.ALL_F32
        )

        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(tokens.index(weights.BOS))
        writer.add_eos_token_id(tokens.index(weights.EOS))
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        # llama-server feeds the generation prompt ("<|im_start|>assistant\n")
        # through the grammar before sampling. With the SentencePiece default
        # of a space prefix after special tokens, it comes back as
        # "<|im_start|> assistant", the grammar rejects it and every
        # response_format request fails with 400 "Failed to initialize samplers".
        writer.add_add_space_prefix(False)
        if chat_template is not None:
            writer.add_chat_template(chat_template)
        if pooling is not None:
            writer.add_pooling_type(gguf.PoolingType[pooling.upper()])

        for name, array in tensors.items():
            qtype = next((q for suffix, q in quantize.items() if name.endswith(suffix)), None)
            if qtype is None:
                writer.add_tensor(name, array)
            else:
                kind = gguf.GGMLQuantizationType[qtype]
                writer.add_tensor(name, gguf.quants.quantize(array, kind), raw_dtype=kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
