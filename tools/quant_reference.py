#!/usr/bin/env python3
"""Writes tests/data/quant/*.bin: golden vectors from the PyPI gguf package's numpy reference
(gguf.quants), which llama.cpp's converter uses and which mirrors ggml-quants.c.

For the types gguf.quants can quantize (F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0):
  <type>.bin = u32 n_floats, f32[n] input, u32 n_bytes, u8[n_bytes] quantized, f32[n] dequantized
For the K-quants it can only dequantize (Q2_K..Q6_K): random but valid blocks:
  <type>_dequant.bin = u32 n_bytes, u8[n_bytes] blocks, u32 n_floats, f32[n] dequantized
Inputs cover normal data with outliers, all-zero and constant blocks, one-hot blocks, tiny
(1e-30) and huge (1e6, beyond fp16's range for the scale) magnitudes, negative extremes.

Usage: python3 tools/quant_reference.py [out_dir]   (needs numpy and gguf)
"""
import struct
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants


def legacy_inputs(block: int, rng: np.random.Generator) -> np.ndarray:
    blocks = []
    for _ in range(55):  # 55 + 9 special = 64 blocks (2048, 8 rows of 256); normal data with a few outliers
        b = rng.normal(0, 0.05, block).astype(np.float32)
        b[rng.integers(0, block, 2)] *= 25
        blocks.append(b)
    blocks.append(np.zeros(block, np.float32))                      # all zero
    blocks.append(np.full(block, 0.37, np.float32))                 # constant
    blocks.append(np.full(block, -2.5, np.float32))                 # constant negative
    one_hot = np.zeros(block, np.float32); one_hot[5] = -3.0
    blocks.append(one_hot)                                          # single negative spike
    blocks.append(rng.normal(0, 1e-30, block).astype(np.float32))  # tiny: scale underflows fp16
    blocks.append(rng.normal(0, 1e6, block).astype(np.float32))    # huge: scale overflows fp16
    blocks.append(rng.normal(0, 1e3, block).astype(np.float32))    # large but representable
    ramp = np.linspace(-1, 1, block, dtype=np.float32)
    blocks.append(ramp)
    blocks.append(-ramp)
    return np.concatenate(blocks)


def write_quantized(out: Path, name: str, qtype, x: np.ndarray) -> None:
    q = quants.quantize(x.reshape(1, -1), qtype).reshape(-1).view(np.uint8)
    deq = quants.dequantize(q.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
    with open(out / f"{name}.bin", "wb") as f:
        f.write(struct.pack("<I", x.size)); f.write(x.astype("<f4").tobytes())
        f.write(struct.pack("<I", q.size)); f.write(q.tobytes())
        f.write(deq.astype("<f4").tobytes())


def random_k_blocks(qtype, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    # fp16 fields (d, dmin) set to sane values so that the floats are finite and comparable.
    halves = {T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
    for off in halves:
        vals = rng.uniform(-0.02, 0.02, n_blocks).astype(np.float16).view(np.uint8).reshape(n_blocks, 2)
        raw[:, off:off + 2] = vals
    return raw.reshape(-1)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "tests/data/quant"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20260814)
    x32 = legacy_inputs(32, rng)
    for name, qtype in [("q4_0", T.Q4_0), ("q4_1", T.Q4_1), ("q5_0", T.Q5_0), ("q5_1", T.Q5_1),
                        ("q8_0", T.Q8_0), ("f16", T.F16), ("bf16", T.BF16)]:
        with np.errstate(all="ignore"):
            write_quantized(out, name, qtype, x32)
    for name, qtype in [("q2_k", T.Q2_K), ("q3_k", T.Q3_K), ("q4_k", T.Q4_K), ("q5_k", T.Q5_K), ("q6_k", T.Q6_K)]:
        raw = random_k_blocks(qtype, 8, rng)
        deq = quants.dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        with open(out / f"{name}_dequant.bin", "wb") as f:
            f.write(struct.pack("<I", raw.size)); f.write(raw.tobytes())
            f.write(struct.pack("<I", deq.size)); f.write(deq.astype("<f4").tobytes())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
