"""Rewrite a GGUF file with its quantized tensors dequantized (to F16 by default).

Some llama-server builds cannot run some quantized types on some CPUs (see
``case_gemma``). This copies every metadata key/value pair as stored (strings
as raw bytes, arrays with their element type), sets ``general.file_type`` to
match, and streams the tensors one at a time, so memory stays at about one
tensor. 1-D tensors and tensors already in F32/F16/BF16 are copied unchanged;
quantized types listed in ``keep`` are copied unchanged too.

    python -m bench.gguf_convert SRC DST [--type F16|BF16|F32|Q8_0] [--keep Q4_K,Q6_K]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGUFReader, GGUFValueType, GGUFWriter, LlamaFileType
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, Keys
from gguf.quants import dequantize, quantize

PLAIN = {GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16}
FILE_TYPES = {
    GGMLQuantizationType.F32: LlamaFileType.ALL_F32,
    GGMLQuantizationType.F16: LlamaFileType.MOSTLY_F16,
    GGMLQuantizationType.BF16: LlamaFileType.MOSTLY_BF16,
    GGMLQuantizationType.Q8_0: LlamaFileType.MOSTLY_Q8_0,
}
# Written by GGUFWriter itself, or computed by GGUFReader (not stored as such).
SKIPPED_KEYS = {Keys.General.ARCHITECTURE, Keys.General.FILE_TYPE}


def _field_value(field: Any) -> tuple[Any, GGUFValueType, GGUFValueType | None]:
    """A field's value as GGUFWriter takes it; strings as their stored bytes."""
    main = field.types[0]
    if main == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]), main, None
    if main == GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == GGUFValueType.ARRAY:
            raise NotImplementedError(f"nested array in {field.name}")
        if sub == GGUFValueType.STRING:
            return [bytes(field.parts[i]) for i in field.data], main, sub
        return field.contents(), main, sub
    return field.contents(), main, None


def _target(
    qtype: GGMLQuantizationType,
    ndim: int,
    out: GGMLQuantizationType,
    keep: set[GGMLQuantizationType],
) -> GGMLQuantizationType | None:
    if qtype in PLAIN or qtype in keep or ndim < 2:
        return None  # copied as stored
    return out


def _file_type(reader: GGUFReader, plan: list[tuple[Any, Any]]) -> int:
    """The type that now holds most of the weights, as a general.file_type.

    The source's value when that type has no file type of its own (e.g. the
    source's K-quants were kept and still hold most weights).
    """
    elements: dict[GGMLQuantizationType, int] = {}
    for tensor, target in plan:
        if len(tensor.shape) >= 2:
            qtype = tensor.tensor_type if target is None else target
            elements[qtype] = elements.get(qtype, 0) + int(tensor.n_elements)
    main = max(elements, key=elements.__getitem__) if elements else None
    if main in FILE_TYPES:
        return int(FILE_TYPES[main])
    return int(reader.fields[Keys.General.FILE_TYPE].contents())


def _convert_tensor(tensor: Any, out: GGMLQuantizationType) -> np.ndarray:
    values = dequantize(tensor.data, tensor.tensor_type)  # float32, numpy order (..., ne0)
    if out == GGMLQuantizationType.F32:
        return np.ascontiguousarray(values, dtype=np.float32)
    if out == GGMLQuantizationType.F16:
        return np.ascontiguousarray(values, dtype=np.float16)
    return np.ascontiguousarray(quantize(values, out))  # BF16, Q8_0: uint8 rows


def convert(
    src: Path,
    dst: Path,
    out: GGMLQuantizationType = GGMLQuantizationType.F16,
    keep: Iterable[GGMLQuantizationType] = (),
) -> Path:
    """Write ``src`` to ``dst`` (via a temp file, renamed when complete)."""
    keep = set(keep)
    reader = GGUFReader(src)
    arch = reader.fields[Keys.General.ARCHITECTURE].contents()
    tmp = dst.with_name(dst.name + f".{os.getpid()}.part")
    writer = GGUFWriter(tmp, arch)
    try:
        for name, field in reader.fields.items():
            if name.startswith("GGUF.") or name in SKIPPED_KEYS:
                continue
            value, vtype, sub = _field_value(field)
            writer.add_key_value(name, value, vtype, sub_type=sub)
            if name == Keys.General.ALIGNMENT:
                writer.data_alignment = int(value)
        plan = []
        for tensor in reader.tensors:
            shape = [int(n) for n in reversed(tensor.shape)]  # numpy order
            target = _target(tensor.tensor_type, len(shape), out, keep)
            if target is None:
                nbytes = int(tensor.n_bytes)
                dtype = tensor.tensor_type
            else:
                block, size = GGML_QUANT_SIZES[target]
                nbytes = int(tensor.n_elements) // block * size
                dtype = target
            plan.append((tensor, target))
            writer.add_tensor_info(tensor.name, shape, np.dtype(np.float32), nbytes, dtype)
            # raw_dtype given with a non-uint8 dtype: the shape is taken as is.

        writer.add_file_type(_file_type(reader, plan))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for tensor, target in plan:
            if target is None:
                data = np.ascontiguousarray(tensor.data)
            else:
                data = _convert_tensor(tensor, target)
            writer.write_tensor_data(data)
        writer.close()
        os.replace(tmp, dst)
    finally:
        writer.close()
        tmp.unlink(missing_ok=True)
    return dst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gguf_convert", description=__doc__)
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    parser.add_argument("--type", default="F16", choices=["F16", "BF16", "F32", "Q8_0"])
    parser.add_argument("--keep", default="", help="comma-separated types to copy as they are")
    args = parser.parse_args(argv)
    keep = [GGMLQuantizationType[name] for name in args.keep.split(",") if name]
    convert(args.src, args.dst, GGMLQuantizationType[args.type], keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
