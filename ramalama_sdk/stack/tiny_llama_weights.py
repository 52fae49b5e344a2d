"""The tiny model's vocabulary and random weights (``tiny_model()``).

The weights are random; a few per-token output biases, held in one column
of the embeddings, decide how replies end: on their own after a few words,
with the closers of JSON under a grammar, with a tool call when one is
required, never before the end of the thinking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

N_LAYER = 2
N_EMBD = 64
N_HEAD = 4
N_FF = 128
N_CTX = 2048

BOS = "<s>"
EOS = "<|im_end|>"

# The text a tool call starts with (llama-server reads it from the template), a
# token of its own in the tools model: a newline is otherwise a byte token.
TOOL_CALL = "<tool_call>\n"
# The tools model: a reply either ends at once (an empty answer) or, where
# a grammar forbids ending (tool_choice="required"), begins a tool call; both
# stand far above every word. Calls in "auto" mode stay rare (a few percent).
_TOOLS_EOS_BIAS = 3.2
_TOOL_CALL_BIAS = 2.5
# The thinking model never ends by itself: the end of its thinking, forced by
# llama-server's reasoning budget, would otherwise often be followed by EOS.
_THINKING_EOS_BIAS = -1.0


def output_biases(tools: bool, thinking: bool) -> dict[str, float]:
    """Per-token output biases of a variant, beyond the closers."""
    if thinking:
        return {EOS: _THINKING_EOS_BIAS}
    if tools:
        return {EOS: _TOOLS_EOS_BIAS, TOOL_CALL: _TOOL_CALL_BIAS}
    return {EOS: _EOS_BIAS}


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


def vocabulary(extra: list[str]) -> tuple[list[str], list[float], list[int]]:
    """The tokens, their scores and their types, with a variant's ``extra`` pieces."""
    import gguf

    tokens = ["<unk>", BOS, "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]

    # Byte fallback: text with no matching piece still tokenizes, byte by byte.
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [gguf.TokenType.BYTE] * 256

    tokens += ["<|im_start|>", EOS]
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


def random_tensors(
    rng: np.random.Generator, tokens: list[str], types: list[int], biases: dict[str, float]
) -> dict[str, npt.NDArray[np.float32]]:
    """Every tensor of the model, by its GGUF name, with ``biases`` in the output layer."""
    import gguf
    import numpy as np

    n_vocab = len(tokens)

    def normal(*shape: int, std: float = 0.02) -> npt.NDArray[np.float32]:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def ones(n: int) -> npt.NDArray[np.float32]:
        return np.ones(n, dtype=np.float32)

    embd = normal(n_vocab, N_EMBD, std=1.0)
    embd[:, 0] = _BIAS_COLUMN_INPUT

    output = normal(n_vocab, N_EMBD, std=_OUTPUT_STD)
    output[:, 0] = 0.0
    output[np.array(types) != int(gguf.TokenType.NORMAL), 0] = _SUPPRESS_BIAS
    for piece in _CLOSERS:
        output[tokens.index(piece), 0] = _CLOSER_BIAS
    for piece, bias in biases.items():
        output[tokens.index(piece), 0] = bias

    # numpy shapes are (rows, cols); gguf stores them reversed, as ggml expects.
    tensors = {"token_embd.weight": embd, "output_norm.weight": ones(N_EMBD)}
    for i in range(N_LAYER):
        tensors |= {
            f"blk.{i}.attn_norm.weight": ones(N_EMBD),
            f"blk.{i}.attn_q.weight": normal(N_EMBD, N_EMBD),
            f"blk.{i}.attn_k.weight": normal(N_EMBD, N_EMBD),
            f"blk.{i}.attn_v.weight": normal(N_EMBD, N_EMBD),
            f"blk.{i}.attn_output.weight": normal(N_EMBD, N_EMBD),
            f"blk.{i}.ffn_norm.weight": ones(N_EMBD),
            f"blk.{i}.ffn_gate.weight": normal(N_FF, N_EMBD),
            f"blk.{i}.ffn_up.weight": normal(N_FF, N_EMBD),
            f"blk.{i}.ffn_down.weight": normal(N_EMBD, N_FF),
        }
    tensors["output.weight"] = output
    return tensors
