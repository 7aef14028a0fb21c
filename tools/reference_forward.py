#!/usr/bin/env python3
"""Float64 numpy reference of the llama / qwen2 / qwen3 forward pass, reading a GGUF with the PyPI
`gguf` package (GGUFReader, weights dequantized with gguf.quants). It writes golden logits that
tests/model/test_model_golden.cpp compares Shootout's CPU forward against.

The reference is the exact math on the file's (dequantized) weights: no activation rounding and an
F32-exact KV cache, so the distance between it and Shootout measures Shootout's own rounding
(activations converted to the weights' vec_dot_type, K/V rounded to F16), as it would llama.cpp's.

Golden file (little endian):
  char[8] "SHGOLD01"; int32 n_tokens, n_vocab, top_k; int32 tokens[n_tokens];
  per position: float64 logsumexp of the full row; int32 ids[top_k]; float32 logits[top_k]
  (the top_k largest logits, descending).

Usage:
  reference_forward.py MODEL.gguf OUT.bin --tokens 1,2,3 [--top-k 256]
  reference_forward.py MODEL.gguf OUT.bin --text "def f(x):" --tokenizer tokenizer.json
  reference_forward.py MODEL.gguf OUT.bin --text "..." --greedy-vocab   (longest match on the GGUF vocab)
"""
import argparse
import struct
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

from golden_file import write_golden  # also reached as reference_forward.write_golden by make_tiny_models.py


def field_value(reader, key, default=None):
    field = reader.fields.get(key)
    if field is None:
        return default
    return field.contents()


class Weights:
    def __init__(self, reader):
        self.tensors = {t.name: t for t in reader.tensors}

    def has(self, name):
        return name in self.tensors

    def get(self, name):
        t = self.tensors[name]
        # GGUF shapes are ggml order (row length first); numpy wants [rows, cols].
        shape = [int(x) for x in reversed(t.shape)]
        values = dequantize(np.asarray(t.data), t.tensor_type)
        return values.reshape(shape).astype(np.float64)


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x, positions, n_rot, freq_base, neox, freq_factors=None):
    """x: [n_tokens, n_heads, head_dim]; rotates the first n_rot dims of each head. freq_factors
    (rope_freqs.weight, Llama 3.1): pair i's angle is divided by freq_factors[i]."""
    x = x.copy()
    half = n_rot // 2
    inv_freq = freq_base ** (-2.0 * np.arange(half) / n_rot)
    if freq_factors is not None:
        inv_freq = inv_freq / np.asarray(freq_factors, dtype=np.float64)
    angle = positions[:, None].astype(np.float64) * inv_freq[None, :]   # [n_tokens, half]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    if neox:  # pairs (i, i + n_rot/2)
        a, b = x[..., :half].copy(), x[..., half:n_rot].copy()
        x[..., :half] = a * cos - b * sin
        x[..., half:n_rot] = a * sin + b * cos
    else:     # adjacent pairs (2i, 2i+1)
        a, b = x[..., 0:n_rot:2].copy(), x[..., 1:n_rot:2].copy()
        x[..., 0:n_rot:2] = a * cos - b * sin
        x[..., 1:n_rot:2] = a * sin + b * cos
    return x


def forward(path, tokens, use_rope_freqs=True):
    reader = GGUFReader(path)
    arch = field_value(reader, "general.architecture")
    if arch not in ("llama", "qwen2", "qwen3"):
        sys.exit(f"{path}: unsupported architecture {arch}")
    kv = lambda key, default=None: field_value(reader, f"{arch}.{key}", default)
    n_layers = int(kv("block_count"))
    n_embd = int(kv("embedding_length"))
    n_head = int(kv("attention.head_count"))
    n_head_kv = int(kv("attention.head_count_kv", n_head))
    head_dim = int(kv("attention.key_length", n_embd // n_head))
    n_rot = int(kv("rope.dimension_count", head_dim))
    freq_base = float(kv("rope.freq_base", 10000.0))
    eps = float(kv("attention.layer_norm_rms_epsilon"))
    neox = arch in ("qwen2", "qwen3")

    w = Weights(reader)
    freq_factors = w.get("rope_freqs.weight").reshape(-1) if use_rope_freqs and w.has("rope_freqs.weight") else None
    tokens = np.asarray(tokens, dtype=np.int64)
    n_tokens = len(tokens)
    positions = np.arange(n_tokens)
    x = w.get("token_embd.weight")[tokens]                  # [n_tokens, n_embd]
    causal = np.triu(np.full((n_tokens, n_tokens), -np.inf), k=1)
    group = n_head // n_head_kv

    for layer in range(n_layers):
        p = f"blk.{layer}."
        h = rms_norm(x, w.get(p + "attn_norm.weight"), eps)
        q, k, v = (h @ w.get(p + f"attn_{n}.weight").T for n in "qkv")
        if w.has(p + "attn_q.bias"):
            q, k, v = (t + w.get(p + f"attn_{n}.bias") for t, n in zip((q, k, v), "qkv"))
        q = q.reshape(n_tokens, n_head, head_dim)
        k = k.reshape(n_tokens, n_head_kv, head_dim)
        v = v.reshape(n_tokens, n_head_kv, head_dim)
        if w.has(p + "attn_q_norm.weight"):
            q = rms_norm(q, w.get(p + "attn_q_norm.weight"), eps)
            k = rms_norm(k, w.get(p + "attn_k_norm.weight"), eps)
        q = rope(q, positions, n_rot, freq_base, neox, freq_factors)
        k = rope(k, positions, n_rot, freq_base, neox, freq_factors)
        attn = np.empty((n_tokens, n_head, head_dim))
        for head in range(n_head):
            scores = q[:, head, :] @ k[:, head // group, :].T / np.sqrt(head_dim) + causal
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores /= scores.sum(axis=1, keepdims=True)
            attn[:, head, :] = scores @ v[:, head // group, :]
        x = x + attn.reshape(n_tokens, n_head * head_dim) @ w.get(p + "attn_output.weight").T
        h = rms_norm(x, w.get(p + "ffn_norm.weight"), eps)
        gate = h @ w.get(p + "ffn_gate.weight").T
        up = h @ w.get(p + "ffn_up.weight").T
        x = x + (gate / (1.0 + np.exp(-gate)) * up) @ w.get(p + "ffn_down.weight").T

    x = rms_norm(x, w.get("output_norm.weight"), eps)
    output = w.get("output.weight") if w.has("output.weight") else w.get("token_embd.weight")
    return x @ output.T                                       # [n_tokens, n_vocab]


def greedy_tokens(path, text):
    """Longest-match tokenization on the GGUF's byte-level BPE vocab: not the real tokenizer, but
    valid ids that follow real text, so the logits have a realistic shape."""
    reader = GGUFReader(path)
    vocab = {tok: i for i, tok in enumerate(field_value(reader, "tokenizer.ggml.tokens"))}
    text = text.replace(" ", "\u0120").replace("\n", "\u010a")  # GPT-2 byte-to-unicode for ' ', '\n'
    ids, i = [], 0
    while i < len(text):
        for j in range(min(len(text), i + 24), i, -1):
            if text[i:j] in vocab:
                ids.append(vocab[text[i:j]])
                i = j
                break
        else:
            sys.exit(f"no vocab entry for {text[i]!r}")
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("out")
    ap.add_argument("--tokens", help="comma-separated token ids")
    ap.add_argument("--text")
    ap.add_argument("--tokenizer", help="Hugging Face tokenizer.json for --text")
    ap.add_argument("--greedy-vocab", action="store_true", help="tokenize --text by longest match on the GGUF vocab")
    ap.add_argument("--top-k", type=int, default=256)
    args = ap.parse_args()

    if args.tokens:
        tokens = [int(t) for t in args.tokens.split(",")]
    elif args.text and args.tokenizer:
        from tokenizers import Tokenizer
        tokens = Tokenizer.from_file(args.tokenizer).encode(args.text).ids
    elif args.text and args.greedy_vocab:
        tokens = greedy_tokens(args.model, args.text)
    else:
        sys.exit("give --tokens, or --text with --tokenizer or --greedy-vocab")
    logits = forward(args.model, tokens)
    write_golden(args.out, tokens, logits, args.top_k)
    print(f"{args.out}: {len(tokens)} tokens, top-1 {list(np.argmax(logits, axis=1))}")


if __name__ == "__main__":
    main()
