#!/usr/bin/env python3
"""Writes tiny random GGUFs of each supported architecture with the PyPI gguf writer, then their
float64 golden logits with tools/reference_forward.py: the fixtures of tests/model/test_model_golden.cpp
for what the trained models do not cover (qwen2 biases; a llama with partial RoPE and GQA, and one
with q/k/v biases; an untied output). F32 weights, so only our F16 KV cache rounds and the comparison can be tight.

Usage: make_tiny_models.py [OUT_DIR]   (default tests/data/model; writes tiny-<arch>.gguf/.golden)
"""
import os
import sys

import numpy as np
from gguf import GGUFWriter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_forward  # noqa: E402

N_VOCAB, N_EMBD, N_FF, N_LAYERS = 256, 64, 128, 2
TOKENS = [17, 200, 3, 45, 45, 128, 9, 255, 0, 77, 31, 160, 42, 5, 99, 250]

# arch: (n_head, n_head_kv, head_dim, rope dims or None, freq_base, q/k/v bias, q/k norm, untied output)
MODELS = {
    "qwen2": (4, 2, 16, None, 1e6, True, False, True),
    "llama": (4, 1, 16, 8, 1e4, False, False, False),
    "qwen3": (4, 2, 32, None, 1e6, False, True, False),   # head_dim * n_head != n_embd, as Qwen3 allows
    # Llama 3.1's RoPE frequency factors (rope_freqs.weight). Drawn in [0.25, 4] rather than Llama 3.1's
    # own (1 on the fast pairs, 8 on the slow ones, which barely turn in 16 positions), so that a
    # forward pass ignoring them misses the golden by far (the script prints by how much).
    "llama31": (4, 2, 16, None, 5e5, False, False, True),
    # The same with heads of 64, a size the CUDA attention kernels take (16 is below them): the GPU's
    # RoPE with frequency factors, end to end (tests/cuda/test_cuda_tiny_hf.cpp).
    "llama31-hd64": (4, 2, 64, None, 5e5, False, False, True),
    # A llama with q/k/v biases (llama.cpp's llama graph adds them when the file has them).
    "llama-bias": (4, 1, 16, 8, 1e4, True, False, False),
}
ROPE_FREQS = {"llama31", "llama31-hd64"}


def write_model(path, model_name, seed):
    n_head, n_head_kv, head_dim, n_rot, freq_base, bias, qk_norm, untied = MODELS[model_name]
    arch = "llama" if model_name.startswith("llama") else model_name
    rng = np.random.default_rng(seed)
    matrix = lambda rows, cols: (rng.standard_normal((rows, cols)) / np.sqrt(cols)).astype(np.float32)
    vector = lambda n, mean, sd: (mean + sd * rng.standard_normal(n)).astype(np.float32)

    w = GGUFWriter(path, arch)
    w.add_name(f"tiny-{model_name}-random")
    w.add_context_length(128)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYERS)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    if head_dim * n_head != N_EMBD:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if n_rot:
        w.add_rope_dimension_count(n_rot)
    w.add_rope_freq_base(freq_base)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"<t{i}>" for i in range(N_VOCAB)])

    n_q, n_kv = n_head * head_dim, n_head_kv * head_dim
    w.add_tensor("token_embd.weight", rng.standard_normal((N_VOCAB, N_EMBD)).astype(np.float32))
    for layer in range(N_LAYERS):
        p = f"blk.{layer}."
        w.add_tensor(p + "attn_norm.weight", vector(N_EMBD, 1.0, 0.1))
        for name, rows in (("attn_q", n_q), ("attn_k", n_kv), ("attn_v", n_kv)):
            w.add_tensor(p + name + ".weight", matrix(rows, N_EMBD))
            if bias:
                w.add_tensor(p + name + ".bias", vector(rows, 0.0, 0.5))
        if qk_norm:
            w.add_tensor(p + "attn_q_norm.weight", vector(head_dim, 1.0, 0.2))
            w.add_tensor(p + "attn_k_norm.weight", vector(head_dim, 1.0, 0.2))
        w.add_tensor(p + "attn_output.weight", matrix(N_EMBD, n_q))
        w.add_tensor(p + "ffn_norm.weight", vector(N_EMBD, 1.0, 0.1))
        w.add_tensor(p + "ffn_gate.weight", matrix(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_up.weight", matrix(N_FF, N_EMBD))
        w.add_tensor(p + "ffn_down.weight", matrix(N_EMBD, N_FF))
    if model_name in ROPE_FREQS:
        w.add_tensor("rope_freqs.weight", rng.uniform(0.25, 4.0, (n_rot or head_dim) // 2).astype(np.float32))
    w.add_tensor("output_norm.weight", vector(N_EMBD, 1.0, 0.1))
    if untied:
        w.add_tensor("output.weight", 2.0 * matrix(N_VOCAB, N_EMBD))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "tests/data/model"
    for seed, name in enumerate(MODELS):
        path = os.path.join(out_dir, f"tiny-{name}.gguf")
        write_model(path, name, 20260 + seed)
        logits = reference_forward.forward(path, TOKENS)
        reference_forward.write_golden(os.path.join(out_dir, f"tiny-{name}.golden"), TOKENS, logits, N_VOCAB)
        print(f"{path}: top-1 {[int(i) for i in np.argmax(logits, axis=1)]}")
        if name in ROPE_FREQS:
            plain = reference_forward.forward(path, TOKENS, use_rope_freqs=False)
            print(f"  without its rope_freqs the logits move by up to {np.abs(plain - logits).max():.3f}")


if __name__ == "__main__":
    main()
