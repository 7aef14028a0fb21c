#!/usr/bin/env python3
"""Writes tests/data/quant/ggml_<type>.bin: golden vectors from ggml itself, for the types the
PyPI gguf package cannot quantize (IQ4_NL, IQ4_XS, the IQ1-IQ3 family) and for those it can but
where ggml's own output is the authority (MXFP4, TQ1_0, TQ2_0).

It loads libggml-base.so of the llama.cpp built beside the project (the library llama-quantize
uses; ggml-quants.c is compiled there without -march flags) through ctypes and calls
ggml_quantize_chunk (llama-quantize's path, with and without importance weights), the type's
from_float_ref (the reference quantizer) and to_float.

File layout (little-endian):
  u32 n_per_row, u32 n_rows, f32 x[n_rows*n_per_row], f32 importance[n_per_row],
  u32 n_bytes, then three parts, each u32 length (n_bytes, or 0 when absent) + bytes:
  plain (quantize_chunk without importance; absent for types that require an imatrix),
  weighted (quantize_chunk with importance), ref (from_float_ref over the whole input; absent
  where ggml has none), then f32 dequantized[n] (to_float of `weighted`)

Inputs: rows of 512 (two super-blocks) holding normal data with outliers and special super-blocks:
all zero, constant, one negative spike, tiny (1e-30) and huge (1e6, 1e9: the scale overflows
fp16) magnitudes, a ramp, zero sub-blocks inside a normal super-block, mixed magnitudes per
sub-block. Importance: random positive, one run of 32 zero columns.

Usage: python3 tools/ggml_quant_reference.py [--lib PATH] [--out DIR] type...
  (default lib /work/llama.cpp/build/bin/libggml-base.so; needs numpy)
"""
import argparse
import ctypes
import struct
from pathlib import Path

import numpy as np

TYPE_IDS = {"iq2_xxs": 16, "iq2_xs": 17, "iq3_xxs": 18, "iq1_s": 19, "iq4_nl": 20, "iq3_s": 21, "iq2_s": 22,
            "iq4_xs": 23, "iq1_m": 29, "tq1_0": 34, "tq2_0": 35, "mxfp4": 39}
REQUIRES_IMATRIX = {"iq2_xxs", "iq2_xs", "iq1_s"}


class TypeTraits(ctypes.Structure):
    _fields_ = [("type_name", ctypes.c_char_p), ("blck_size", ctypes.c_int64),
                ("blck_size_interleave", ctypes.c_int64), ("type_size", ctypes.c_size_t),
                ("is_quantized", ctypes.c_bool), ("to_float", ctypes.c_void_p),
                ("from_float_ref", ctypes.c_void_p)]


def inputs(rng: np.random.Generator, n_per_row: int, n_rows: int) -> np.ndarray:
    def normal():
        b = rng.normal(0, 0.05, 256).astype(np.float32)
        b[rng.integers(0, 256, 3)] *= 25
        return b
    special = []
    special.append(np.zeros(256, np.float32))
    special.append(np.full(256, 0.37, np.float32))
    one_hot = np.zeros(256, np.float32); one_hot[77] = -3.0
    special.append(one_hot)
    special.append(rng.normal(0, 1e-30, 256).astype(np.float32))
    special.append(rng.normal(0, 1e6, 256).astype(np.float32))
    special.append(rng.normal(0, 1e9, 256).astype(np.float32))
    special.append(np.linspace(-1, 1, 256, dtype=np.float32))
    holes = normal(); holes[0:96] = 0; holes[160:192] = 0
    special.append(holes)
    mixed = normal() * np.repeat(np.float32(10.0) ** np.arange(-4, 4, dtype=np.float32), 32)
    special.append(mixed.astype(np.float32))
    special.append(-np.abs(normal()))
    n_super = n_per_row * n_rows // 256
    blocks = special + [normal() for _ in range(n_super - len(special))]
    order = rng.permutation(len(blocks))
    return np.concatenate([blocks[i] for i in order]).astype(np.float32)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--lib", default="/work/llama.cpp/build/bin/libggml-base.so")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "tests/data/quant"))
    p.add_argument("types", nargs="+")
    args = p.parse_args()
    lib = ctypes.CDLL(args.lib)
    lib.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
    lib.ggml_quantize_chunk.restype = ctypes.c_size_t
    lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                        ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    to_float_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    n_per_row, n_rows = 512, 16
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.types:
        type_id = TYPE_IDS[name]
        rng = np.random.default_rng(1000 + type_id)
        x = inputs(rng, n_per_row, n_rows)
        importance = rng.uniform(0.01, 4.0, n_per_row).astype(np.float32)
        importance[64:96] = 0
        traits = lib.ggml_get_type_traits(type_id).contents
        n = x.size
        n_bytes = n // traits.blck_size * traits.type_size

        def chunk(imp):
            buf = np.zeros(n_bytes, np.uint8)
            written = lib.ggml_quantize_chunk(type_id, x.ctypes.data, buf.ctypes.data, 0, n_rows, n_per_row,
                                              imp.ctypes.data if imp is not None else None)
            assert written == n_bytes, (name, written, n_bytes)
            return buf

        lib.ggml_quantize_init(type_id)
        plain = np.zeros(0, np.uint8) if name in REQUIRES_IMATRIX else chunk(None)
        weighted = chunk(importance)
        ref = np.zeros(0, np.uint8)
        if traits.from_float_ref and name not in REQUIRES_IMATRIX:
            ref = np.zeros(n_bytes, np.uint8)
            to_float_t(traits.from_float_ref)(x.ctypes.data, ref.ctypes.data, n)
        deq = np.zeros(n, np.float32)
        to_float_t(traits.to_float)(weighted.ctypes.data, deq.ctypes.data, n)
        with open(out / f"ggml_{name}.bin", "wb") as f:
            f.write(struct.pack("<II", n_per_row, n_rows))
            f.write(x.astype("<f4").tobytes())
            f.write(importance.astype("<f4").tobytes())
            f.write(struct.pack("<I", n_bytes))
            for part in (plain, weighted, ref):
                f.write(struct.pack("<I", part.size))
                f.write(part.tobytes())
            f.write(deq.astype("<f4").tobytes())
        print(f"wrote {out}/ggml_{name}.bin")


if __name__ == "__main__":
    main()
