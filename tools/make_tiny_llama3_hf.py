#!/usr/bin/env python3
"""A tiny random-weight Llama checkpoint with Llama 3.1's RoPE scaling (rope_type "llama3"), made with
`transformers`, its float64 logits for fixed tokens, and the GGUF llama.cpp's convert_hf_to_gguf.py
writes from it: the fixtures of tests/convert/test_convert_hf.cpp (the converter's output byte for byte
against llama.cpp's, rope_freqs.weight included), test_convert_llama3_rope.cpp (that tensor's values)
and test_tiny_hf_golden.cpp (the converted model on the CPU against transformers).

Run where PyTorch and transformers are installed (the device machine), with a llama.cpp checkout (or
its convert script's folder: convert_hf_to_gguf.py, conversion/, gguf-py/):
  python3 tools/make_tiny_llama3_hf.py LLAMA_CPP_DIR [OUT_DIR]   (default tests/data/model)
It writes OUT_DIR/tiny-llama3-hf/ (config.json, model.safetensors, tokenizer.json, tokenizer_config.json),
OUT_DIR/tiny-llama3-hf.golden and OUT_DIR/tiny-llama3-hf.gguf.

Choices (the rest as tools/make_tiny_hf_models.py, whose helpers it uses: F16 matrices, F32 vectors,
N(0, 1/fan_in) weights, K and V rounded to F16 in the golden, the 257-token byte-level vocabulary):
- head_dim 16 with rope_theta 5e5 and original_max_position_embeddings 64 (Llama 3.1's is 8192; its
  factor 8, low_freq_factor 1 and high_freq_factor 4 are kept): of the 8 frequency pairs, 1 is kept, 1
  interpolated and 6 divided by 8, and at the golden's 24 positions that moves the logits (printed),
  where 8192 would leave every pair that turns far enough unscaled.
- Tied embeddings (Llama 3.2 1B / 3B's), two layers: small files.
- The vocabulary's pre-tokenizer hash is unknown to llama.cpp's table, which stops its converter; here
  get_vocab_base_pre answers "gpt-2" for it, the pre-tokenizer Shootout recognizes from tokenizer.json's
  ByteLevel section (as for the shared qwen3moe / qwen3next GGUFs, whose hash is also unknown).
"""
import os
import sys
import types

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_file import write_golden  # noqa: E402
from make_tiny_hf_models import N_VOCAB, TOKENS, f16_kv_cache, randomize, tokenizer_files  # noqa: E402

NAME = "tiny-llama3-hf"
THETA = 500000.0
ROPE = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
            original_max_position_embeddings=64)
WEIGHT_SEED = 3000


def make_config():
    config = transformers.LlamaConfig(vocab_size=N_VOCAB, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                      max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=True,
                                      bos_token_id=256, eos_token_id=256)
    if getattr(config, "rope_parameters", None) is not None:  # transformers 5
        config.rope_parameters.update(ROPE, rope_theta=THETA)
    else:
        config.rope_theta = THETA
        config.rope_scaling = dict(ROPE)
    config.architectures = ["LlamaForCausalLM"]
    return config


def logits_of(model):
    with torch.no_grad():
        return model(input_ids=torch.tensor([TOKENS]), use_cache=False).logits[0].numpy().astype(np.float64)


def convert_with_llama_cpp(llama_dir, model_dir, out_path):
    for path in (os.path.join(llama_dir, "gguf-py"), llama_dir):
        sys.path.insert(0, path)
    try:
        import yaml  # noqa: F401
    except ImportError:
        sys.modules["yaml"] = types.ModuleType("yaml")  # gguf-py imports it for model cards; none here
    from conversion import base
    known = base.TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return known(self, tokenizer)
        except NotImplementedError:
            return "gpt-2"

    base.TextModel.get_vocab_base_pre = get_vocab_base_pre
    import convert_hf_to_gguf
    sys.argv = ["convert_hf_to_gguf.py", model_dir, "--outfile", out_path]
    convert_hf_to_gguf.main()


def main():
    llama_dir = sys.argv[1]
    out_root = sys.argv[2] if len(sys.argv) > 2 else "tests/data/model"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    config = make_config()
    torch.manual_seed(WEIGHT_SEED)
    model = transformers.LlamaForCausalLM(config).to(torch.float32).eval()
    randomize(model, torch.Generator().manual_seed(WEIGHT_SEED))
    rotary = model.model.rotary_emb
    dim = config.head_dim
    plain_inv_freq = 1.0 / (THETA ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    scaled_inv_freq = rotary.inv_freq.clone()
    ratio = (plain_inv_freq / scaled_inv_freq).tolist()
    print(f"transformers' llama3 inv_freq divides each pair's frequency by {[round(r, 4) for r in ratio]}")
    if all(abs(r - 1) < 1e-6 for r in ratio):
        raise SystemExit("transformers did not apply the llama3 scaling (config not read?)")
    model = model.to(torch.float64)
    f16_kv_cache(model)
    logits = logits_of(model)
    rotary.inv_freq = plain_inv_freq.to(rotary.inv_freq.dtype)
    plain = logits_of(model)
    rotary.inv_freq = scaled_inv_freq.to(rotary.inv_freq.dtype)
    if np.abs(logits_of(model) - logits).max() != 0:
        raise SystemExit("restoring inv_freq did not restore the logits")
    print(f"without the llama3 scaling the logits move by up to {np.abs(plain - logits).max():.3f}")

    out_dir = os.path.join(out_root, NAME)
    os.makedirs(out_dir, exist_ok=True)
    vectors = {n: p.detach().to(torch.float32).clone() for n, p in model.named_parameters() if p.dim() == 1}
    model = model.to(torch.float16)
    for n, p in model.named_parameters():  # vectors stay F32
        if n in vectors:
            p.data = vectors[n]
    model.save_pretrained(out_dir, safe_serialization=True)
    if os.path.exists(os.path.join(out_dir, "generation_config.json")):
        os.remove(os.path.join(out_dir, "generation_config.json"))
    tokenizer_files(out_dir)
    write_golden(os.path.join(out_root, NAME + ".golden"), TOKENS, logits, N_VOCAB)
    print(f"{NAME}: {sum(p.numel() for p in model.parameters())} parameters, logits std {logits.std():.3f}, "
          f"top-1 {logits.argmax(-1).tolist()}")
    convert_with_llama_cpp(llama_dir, out_dir, os.path.join(out_root, NAME + ".gguf"))


if __name__ == "__main__":
    main()
