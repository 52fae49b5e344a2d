"""Convert a sentence-transformers BERT model to a GGUF that llama-server embeds with.

The input is the directory a sentence-transformers model is saved in
(``config.json``, ``model.safetensors``, ``vocab.txt`` and
``1_Pooling/config.json``), as all-MiniLM-L6-v2 ships. The output is a
``bert`` GGUF: the weight matrices in F16 (the vectors and the token-type
table in F32: llama-server crashes at load on an F16 ``token_types``), the
WordPiece vocabulary in llama.cpp's "phantom space" form, the model's pooling
and non-causal attention, so that ``llama-server --embedding`` gives the
vectors sentence-transformers gives.

Needs numpy, gguf and safetensors: this project's ``testing`` extra
(``pip install "./ramalama-sdk[testing]"`` from a clone).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["CONVERTER_REVISION", "convert", "gguf_tensor_name", "phantom_vocabulary"]

# Bumped whenever the output of convert() changes: it is part of the key of a
# cached converted model, so a cache never serves a file from older code.
CONVERTER_REVISION = 1

# The types of gguf.TokenType, written as ints to keep this importable without gguf.
_NORMAL = 1
_CONTROL = 3
# HF weights that llama.cpp's bert graph does not use.
_UNUSED = ("pooler.", "embeddings.position_ids")
_POOLING = {
    "pooling_mode_mean_tokens": "MEAN",
    "pooling_mode_cls_token": "CLS",
    "pooling_mode_lasttoken": "LAST",
}


def phantom_vocabulary(words: Sequence[str]) -> tuple[list[str], list[int]]:
    """A WordPiece vocabulary in llama.cpp's form, with each token's type.

    A word that starts a word gets the SentencePiece space mark, a
    continuation (``##s``) loses its ``##``, bracketed specials stay as they are:

    >>> phantom_vocabulary(["[PAD]", "the", "##s", "[unused0]"])
    (['[PAD]', '▁the', 's', '[unused0]'], [3, 1, 1, 1])
    """
    tokens: list[str] = []
    types: list[int] = []
    for word in words:
        if word.startswith("[") and word.endswith("]"):
            tokens.append(word)
        elif word.startswith("##"):
            tokens.append(word[2:])
        else:
            tokens.append("\u2581" + word)
        special = word in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
        types.append(_CONTROL if special else _NORMAL)
    return tokens, types


def gguf_tensor_name(name: str, n_layers: int) -> str | None:
    """The GGUF name of a Hugging Face BERT weight, or None for one left out.

    >>> gguf_tensor_name("encoder.layer.3.attention.self.query.bias", 6)
    'blk.3.attn_q.bias'
    >>> gguf_tensor_name("pooler.dense.weight", 6) is None
    True
    """
    import gguf

    name = name.removeprefix("bert.")
    if name.startswith(_UNUSED):
        return None
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
    mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
    if mapped is None:
        raise ValueError(f"a BERT weight this converter does not know: {name}")
    return str(mapped)


def _pooling(model_dir: Path) -> str:
    config = json.loads((model_dir / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    chosen = [kind for key, kind in _POOLING.items() if config.get(key)]
    if len(chosen) != 1:
        raise ValueError(f"unsupported pooling in {model_dir / '1_Pooling'}: {config}")
    return chosen[0]


def _stored(name: str, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    import numpy as np

    if array.ndim == 2 and name != "token_types.weight":
        return array.astype(np.float16)
    return array.astype(np.float32)


def convert(model_dir: str | Path, target: str | Path) -> None:
    """Write the GGUF of the sentence-transformers BERT model in ``model_dir`` to ``target``."""
    import gguf
    from safetensors.numpy import load_file

    model_dir = Path(model_dir)
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "bert":
        raise ValueError(f"not a BERT model: {model_dir / 'config.json'}")
    n_layers = int(config["num_hidden_layers"])
    words = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tokens, types = phantom_vocabulary(words)
    weights = load_file(str(model_dir / "model.safetensors"))

    writer = gguf.GGUFWriter(str(target), "bert")
    try:
        writer.add_name(model_dir.name)
        writer.add_context_length(int(config["max_position_embeddings"]))
        writer.add_embedding_length(int(config["hidden_size"]))
        writer.add_feed_forward_length(int(config["intermediate_size"]))
        writer.add_block_count(n_layers)
        writer.add_head_count(int(config["num_attention_heads"]))
        writer.add_layer_norm_eps(float(config["layer_norm_eps"]))
        writer.add_causal_attention(False)
        writer.add_pooling_type(gguf.PoolingType[_pooling(model_dir)])
        writer.add_token_type_count(int(config.get("type_vocab_size", 2)))
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

        writer.add_tokenizer_model("bert")
        writer.add_token_list(tokens)
        writer.add_token_types(types)
        for word, add in (
            ("[CLS]", writer.add_bos_token_id),
            ("[SEP]", writer.add_sep_token_id),
            ("[UNK]", writer.add_unk_token_id),
            ("[PAD]", writer.add_pad_token_id),
            ("[MASK]", writer.add_mask_token_id),
        ):
            add(words.index(word))
        writer.add_add_bos_token(True)
        writer.add_add_eos_token(False)
        writer.add_add_sep_token(True)

        for hf_name in sorted(weights):
            name = gguf_tensor_name(hf_name, n_layers)
            if name is not None:
                writer.add_tensor(name, _stored(name, weights[hf_name]))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
