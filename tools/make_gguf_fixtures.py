#!/usr/bin/env python3
"""Writes the GGUF test fixtures with the PyPI `gguf` package's GGUFWriter (the reference writer that
convert_hf_to_gguf.py uses), so the C++ reader is tested on files it did not write itself.

  tests/data/gguf/python_writer.gguf   every metadata value type, nested arrays, alignment 64, tensors
                                       of several types and ranks (values listed in test_gguf_reader.cpp)
  tests/data/gguf/corpus/*.gguf        small valid files: the libFuzzer seed corpus

Usage: python3 tools/make_gguf_fixtures.py [output_dir]   (default: tests/data/gguf)
Needs: numpy, gguf (pip install gguf numpy).
"""
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T, GGUFValueType as V


def write(path, arch, build, alignment=None):
    w = gguf.GGUFWriter(path, arch)
    if alignment is not None:
        w.add_custom_alignment(alignment)
    build(w)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def ramp(n, scale=0.5, bias=-1.0):
    return (np.arange(n, dtype=np.float32) * scale + bias).astype(np.float32)


def all_types(w):
    # Scalars, one of each of the 13 value types (ARRAY below).
    w.add_uint8("test.uint8", 200)
    w.add_int8("test.int8", -100)
    w.add_uint16("test.uint16", 60000)
    w.add_int16("test.int16", -30000)
    w.add_uint32("test.uint32", 4000000000)
    w.add_int32("test.int32", -2000000000)
    w.add_float32("test.float32", 0.1)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "h\u00e9llo\nworld")
    w.add_uint64("test.uint64", 2**63 + 5)
    w.add_int64("test.int64", -(2**62) - 3)
    w.add_float64("test.float64", 1.0 / 3.0)
    # Arrays, including an array of arrays (GGUF spec; llama.cpp itself does not read those).
    w.add_array("test.array.int32", [1, -2, 3])
    w.add_array("test.array.string", ["a", "", "ccc"])
    w.add_array("test.array.float32", [0.5, -1.25])
    w.add_array("test.array.bool", [True, False, True])
    w.add_key_value("test.array.uint64", [7, 2**64 - 1], V.ARRAY, sub_type=V.UINT64)
    w.add_array("test.array.nested", [[1, 2], [3]])
    w.add_name("fixture")

    # Tensors. numpy shape (rows, cols) is ggml shape [cols, rows].
    w.add_tensor("f32.matrix", ramp(12).reshape(3, 4))
    w.add_tensor("f16.matrix", ramp(16, 0.25).astype(np.float16).reshape(2, 8))
    q8 = gguf.quants.quantize(ramp(128, 0.125, -8.0).reshape(2, 64), T.Q8_0)
    w.add_tensor("q8_0.matrix", q8, raw_dtype=T.Q8_0)
    bf16 = gguf.quants.quantize(ramp(8, 1.5), T.BF16)
    w.add_tensor("bf16.vector", bf16, raw_dtype=T.BF16)
    w.add_tensor("i32.vector", np.array([5, -6, 7], dtype=np.int32))
    w.add_tensor("f32.rank3", ramp(24).reshape(2, 3, 4))
    w.add_tensor("f32.rank4", ramp(16).reshape(2, 2, 2, 2))


def metadata_only(w):
    w.add_description("no tensors at all")
    w.add_array("test.tokens", ["<s>", "</s>", "hello", "\u4e16\u754c"])


def quantized(w):
    w.add_uint32("test.block_count", 1)
    x = ramp(512, 0.01, -2.5).reshape(2, 256)
    for qtype, name in [(T.Q4_0, "q4_0"), (T.Q4_1, "q4_1"), (T.Q5_0, "q5_0"), (T.Q5_1, "q5_1")]:
        w.add_tensor("blk.0." + name + ".weight", gguf.quants.quantize(x, qtype), raw_dtype=qtype)
    w.add_tensor("output_norm.weight", np.ones(256, dtype=np.float32))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data", "gguf")
    corpus = os.path.join(out, "corpus")
    os.makedirs(corpus, exist_ok=True)
    write(os.path.join(out, "python_writer.gguf"), "testarch", all_types, alignment=64)
    write(os.path.join(corpus, "all_types.gguf"), "testarch", all_types, alignment=64)
    write(os.path.join(corpus, "metadata_only.gguf"), "llama", metadata_only)
    write(os.path.join(corpus, "quantized.gguf"), "llama", quantized)
    write(os.path.join(corpus, "quantized_align8.gguf"), "llama", quantized, alignment=8)


if __name__ == "__main__":
    main()
