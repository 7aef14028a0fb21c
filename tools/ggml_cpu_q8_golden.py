#!/usr/bin/env python3
"""Golden activation conversions from llama.cpp's own CPU backend, for
tests/backend/test_activation_conversion (the Q8_0 / Q8_1 bytes ggml's matmuls multiply by).

Usage: tools/ggml_cpu_q8_golden.py <llama.cpp build>/bin/libggml-cpu.so tests/data/backend/ggml_cpu_q8.bin

Calls ggml_get_type_traits_cpu(Q8_0 / Q8_1)->from_float (on x86 with AVX2: quantize_row_q8_0 /
quantize_row_q8_1 of ggml-cpu/arch/x86/quants.c) on fixed inputs: normal rows at several scales
with outliers, exact .5 ties, and values on a Q8_0 grid times a norm weight, as activations of a model
with a Q8_0 embedding are. File: b"Q8GOLD1\\0", int32 n_blocks, float32 x[n_blocks * 32],
Q8_0 blocks (34 bytes each), Q8_1 blocks (36 bytes each). The build's CPU features decide which
conversion ggml uses: make the file on an AVX2 machine.
"""
import ctypes
import sys

import numpy as np

GGML_TYPE_Q8_0, GGML_TYPE_Q8_1 = 8, 9


class TypeTraitsCpu(ctypes.Structure):
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int),
                ("nrows", ctypes.c_int64)]


def inputs() -> np.ndarray:
    rng = np.random.default_rng(7)
    blocks = []
    for scale in (1.0, 1e-3, 1e3):
        x = rng.standard_normal((16, 32)) * scale
        x[rng.random((16, 32)) < 0.03] *= 40.0  # outliers
        blocks.append(x)
    ties = np.array([(k % 126) + 0.5 for k in range(8 * 32)], dtype=np.float64).reshape(8, 32)
    ties[:, 1::2] *= -1
    ties[:, 0] = -127.0  # amax 127: 127 / amax = 1, products land exactly on k + .5
    blocks.append(ties)
    grid = rng.integers(-127, 128, (16, 32)) * np.float32(0.0123) * np.float32(1.7)  # Q8_0 levels times scales
    blocks.append(grid)
    blocks.append(rng.uniform(-2, 2, (8, 32)))
    return np.concatenate(blocks).astype(np.float32)


def main() -> None:
    lib = ctypes.CDLL(sys.argv[1])
    lib.ggml_cpu_init()
    lib.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TypeTraitsCpu)
    convert = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
    x = np.ascontiguousarray(inputs())
    n_blocks = x.shape[0]
    out = [b"Q8GOLD1\0", np.int32(n_blocks).tobytes(), x.tobytes()]
    for type_id, block_bytes in ((GGML_TYPE_Q8_0, 34), (GGML_TYPE_Q8_1, 36)):
        from_float = convert(lib.ggml_get_type_traits_cpu(type_id).contents.from_float)
        y = np.zeros(n_blocks * block_bytes, dtype=np.uint8)
        from_float(x.ctypes.data, y.ctypes.data, x.size)
        out.append(y.tobytes())
    with open(sys.argv[2], "wb") as f:
        f.write(b"".join(out))


if __name__ == "__main__":
    main()
