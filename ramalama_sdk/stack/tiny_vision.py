"""A tiny vision projector (mmproj) GGUF for ``tiny_model``: images in tests.

``tiny_projector()`` writes a random-weights CLIP vision encoder with a
LLaVA-style MLP projector whose output matches the tiny model's 64-wide
embeddings. Served with ``runtime_args=["--mmproj", PATH]``, llama-server
then reports vision in ``/props`` and takes ``image_url`` parts: a real
image travels the whole way (decoding, resizing, 4 image tokens) and the
reply is nonsense words like any reply of the tiny model.
"""

from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING

from .whole_file import write_whole

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

_FILE_NAME = "tiny-mmproj.gguf"
_TEXT_EMBD = 64  # the tiny model's embedding length: the projector's output
_EMBD = 32
_FF = 64
_HEADS = 2
_LAYERS = 2
_IMAGE = 28
_PATCH = 14


def tiny_projector(path: str | os.PathLike[str], *, seed: int = 0) -> pathlib.Path:
    """Write the tiny vision projector GGUF and return its absolute path.

    If ``path`` is a directory, the file is ``tiny-mmproj.gguf`` inside it
    (``tiny-mmproj-seed3.gguf`` for ``seed=3``: other bytes, another name).
    Needs the ``testing`` extra (gguf, numpy).
    """
    try:
        import gguf  # noqa: F401
        import numpy as np
    except ImportError as exc:
        raise ImportError(
            "tiny_projector() needs the gguf and numpy packages: "
            'pip install "./ramalama-sdk[testing]" from a clone of this repository '
            "(or: pip install gguf numpy)"
        ) from exc
    target = pathlib.Path(path).expanduser().absolute()
    if target.is_dir():
        target = target / (_FILE_NAME.replace(".gguf", f"-seed{seed}.gguf") if seed else _FILE_NAME)
    tensors = _weights(np.random.default_rng(seed))
    write_whole(target, lambda name: _write(name, tensors))
    return target


def _write(file_name: str, tensors: dict[str, npt.NDArray[np.float32]]) -> None:
    import gguf

    writer = gguf.GGUFWriter(file_name, "clip")
    try:
        writer.add_name("tiny-mmproj")
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_bool("clip.has_vision_encoder", True)
        writer.add_bool("clip.has_text_encoder", False)
        writer.add_string("clip.projector_type", "mlp")
        writer.add_bool("clip.use_gelu", True)
        writer.add_uint32("clip.vision.image_size", _IMAGE)
        writer.add_uint32("clip.vision.patch_size", _PATCH)
        writer.add_uint32("clip.vision.embedding_length", _EMBD)
        writer.add_uint32("clip.vision.feed_forward_length", _FF)
        writer.add_uint32("clip.vision.projection_dim", _TEXT_EMBD)
        writer.add_uint32("clip.vision.attention.head_count", _HEADS)
        writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-5)
        writer.add_uint32("clip.vision.block_count", _LAYERS)
        writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
        writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
        for name, array in tensors.items():
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _weights(rng: np.random.Generator) -> dict[str, npt.NDArray[np.float32]]:
    import numpy as np

    def normal(*shape: int, std: float = 0.02) -> npt.NDArray[np.float32]:
        return rng.normal(0.0, std, size=shape).astype(np.float32)

    def ones(n: int) -> npt.NDArray[np.float32]:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> npt.NDArray[np.float32]:
        return np.zeros(n, dtype=np.float32)

    n_pos = (_IMAGE // _PATCH) ** 2
    # numpy shapes are (rows, cols); gguf stores them reversed, as ggml expects.
    tensors = {
        "v.patch_embd.weight": normal(_EMBD, 3, _PATCH, _PATCH),
        "v.position_embd.weight": normal(n_pos, _EMBD),
    }
    for i in range(_LAYERS):
        for proj in ("attn_q", "attn_k", "attn_v", "attn_out"):
            tensors[f"v.blk.{i}.{proj}.weight"] = normal(_EMBD, _EMBD)
            tensors[f"v.blk.{i}.{proj}.bias"] = zeros(_EMBD)
        for norm in ("ln1", "ln2"):
            tensors[f"v.blk.{i}.{norm}.weight"] = ones(_EMBD)
            tensors[f"v.blk.{i}.{norm}.bias"] = zeros(_EMBD)
        tensors[f"v.blk.{i}.ffn_up.weight"] = normal(_FF, _EMBD)
        tensors[f"v.blk.{i}.ffn_up.bias"] = zeros(_FF)
        tensors[f"v.blk.{i}.ffn_down.weight"] = normal(_EMBD, _FF)
        tensors[f"v.blk.{i}.ffn_down.bias"] = zeros(_EMBD)
    tensors["mm.0.weight"] = normal(_TEXT_EMBD, _EMBD)
    tensors["mm.0.bias"] = zeros(_TEXT_EMBD)
    tensors["mm.2.weight"] = normal(_TEXT_EMBD, _TEXT_EMBD)
    tensors["mm.2.bias"] = zeros(_TEXT_EMBD)
    return tensors
