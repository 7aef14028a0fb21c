#!/usr/bin/env python3
"""The rope_freqs.weight values llama.cpp's convert_hf_to_gguf.py writes for rope_type "llama3"
(Llama 3.1 / 3.2): its own LlamaModel.generate_extra_tensors, called on a stand-in object that holds
what TextModel.__init__ leaves in rope_parameters and hparams. Prints each factor's float32 bit pattern:
the golden values of tests/convert/test_convert_llama3_rope.cpp.

The converter computes in torch float32, not float64: freqs is a float32 tensor, and every Python
scalar that meets it is rounded to float32 before the operation (`2 * math.pi / freq` is
freq.reciprocal() * float32(2 pi)). --float64 prints the same formula in float64 for comparison.

Run where PyTorch is installed (the device machine), with a llama.cpp checkout (or its convert
script's folder: convert_hf_to_gguf.py, conversion/, gguf-py/):
  python3 tools/llama3_rope_golden.py LLAMA_CPP_DIR            the test's cases
  python3 tools/llama3_rope_golden.py LLAMA_CPP_DIR --sweep    JSON: many (theta, head_dim, scaling) cases
"""
import argparse
import json
import math
import os
import struct
import sys
import types

# name: (rope_theta, head_dim or (hidden_size, num_attention_heads), factor, low_freq_factor,
#        high_freq_factor, original_max_position_embeddings)
CASES = {
    # Small n_rot with all three branches (4 kept, 1 interpolated, 3 divided by factor).
    "head_dim16": (500000.0, 16, 8.0, 1.0, 4.0, 8192),
    # Meta-Llama-3.1-8B's config.json (no head_dim: 4096 / 32).
    "llama31_8b": (500000.0, (4096, 32), 8.0, 1.0, 4.0, 8192),
    # Llama-3.2-1B's config.json.
    "llama32_1b": (500000.0, 64, 32.0, 1.0, 4.0, 8192),
    # Other numbers: bounds 3000 / 3 and 3000 / 1.5, factor 2.5, an integer rope_theta, head_dim 96.
    "inexact": (1000000, 96, 2.5, 1.5, 3.0, 3000),
    # tests/data/model/tiny-llama3-hf (tools/make_tiny_llama3_hf.py): 1 kept, 1 interpolated, 6 divided.
    "tiny_llama3_hf": (500000.0, 16, 8.0, 1.0, 4.0, 64),
}


def import_llama_model(llama_dir):
    for path in (os.path.join(llama_dir, "gguf-py"), llama_dir):
        sys.path.insert(0, path)
    try:
        import yaml  # noqa: F401  (gguf-py's metadata module imports it; nothing here uses it)
    except ImportError:
        sys.modules["yaml"] = types.ModuleType("yaml")
    from conversion.llama import LlamaModel
    return LlamaModel


def converter_factors(LlamaModel, case):
    theta, dims, factor, low, high, context = case
    model = types.SimpleNamespace()
    model.rope_parameters = dict(rope_type="llama3", factor=factor, low_freq_factor=low, high_freq_factor=high,
                                 original_max_position_embeddings=context, rope_theta=theta)
    model.hparams = dict(head_dim=dims) if isinstance(dims, int) else dict(hidden_size=dims[0],
                                                                         num_attention_heads=dims[1])
    model.format_tensor_name = lambda tensor: "rope_freqs.weight"
    out = list(LlamaModel.generate_extra_tensors(model))
    assert len(out) == 1 and out[0][0] == "rope_freqs.weight"
    return [float(x) for x in out[0][1].tolist()], str(out[0][1].dtype)


def float64_factors(case):
    theta, dims, factor, low, high, context = case
    dim = dims if isinstance(dims, int) else dims[0] // dims[1]
    out = []
    for i in range(0, dim, 2):
        wavelen = 2 * math.pi * theta ** (i / dim)
        if wavelen < context / high:
            out.append(1.0)
        elif wavelen > context / low:
            out.append(float(factor))
        else:
            smooth = (context / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return out


def bits(values):
    return [f"0x{struct.unpack('<I', struct.pack('<f', v))[0]:08x}" for v in values]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("llama_dir")
    ap.add_argument("--sweep", action="store_true")
    args = ap.parse_args()
    LlamaModel = import_llama_model(args.llama_dir)
    import torch
    print(f"torch {torch.__version__}, ATen CPU capability {torch.backends.cpu.get_cpu_capability()}", file=sys.stderr)
    if args.sweep:
        cases = []
        for theta in (10000.0, 50000.0, 100000.0, 500000.0, 1000000, 2000000.0, 8000000.0, 123456.7):
            for dim in (16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256):
                for factor, low, high, context in ((8.0, 1.0, 4.0, 8192), (32.0, 1.0, 4.0, 8192),
                                                   (16.0, 1.0, 4.0, 4096), (2.5, 1.5, 3.0, 3000)):
                    case = (theta, dim, factor, low, high, context)
                    cases.append(dict(case=case, bits=bits(converter_factors(LlamaModel, case)[0])))
        json.dump(cases, sys.stdout)
        return
    for name, case in CASES.items():
        values, dtype = converter_factors(LlamaModel, case)
        f64 = float64_factors(case)
        f64_as_f32 = bits(f64)
        print(f"{name} {case} {dtype}, {len(values)} factors")
        for i, (v, b) in enumerate(zip(values, bits(values))):
            note = "" if b == f64_as_f32[i] else f"   float64 formula: {f64[i]!r} ({f64_as_f32[i]})"
            print(f"  [{i:2d}] {b}  {v!r}{note}")


if __name__ == "__main__":
    main()
