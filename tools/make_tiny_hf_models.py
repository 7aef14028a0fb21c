#!/usr/bin/env python3
"""Tiny random-weight Hugging Face checkpoints of qwen3moe and qwen3next, made with `transformers`, and
their logits for fixed token ids: the fixtures of tests/convert/test_tiny_hf_golden.cpp (CPU) and
tests/cuda/test_cuda_tiny_hf.cpp (GPU), which read the directory as `--model DIR` does (convert/) and
compare Shootout's logits with these (issue 5: max |logit difference| < 1e-3).

Run where PyTorch and transformers are installed (the device machine has both; the forward runs on
its CPU in float64, so the golden is the exact math on the saved weights):
  python3 tools/make_tiny_hf_models.py [OUT_DIR]   (default tests/data/model)
It writes OUT_DIR/tiny-<arch>-hf/{config.json, model.safetensors, tokenizer.json, tokenizer_config.json}
and OUT_DIR/tiny-<arch>-hf.golden (tools/golden_file.py's format, the whole vocabulary).

Choices, each so that the comparison can be tight and still catch a wrong op:
- Matrices are stored in F16, so the GGUF the converter makes from them (F16, its default for an F16
  checkpoint) holds exactly the values the golden used; only Shootout's own rounding differs. Vectors
  (norms, A_log, dt_bias) are stored in F32: convert_hf_to_gguf.py, and so Shootout's converter, byte
  for byte, computes qwen3next's 1 + w norms and -exp(A_log) in the checkpoint's dtype, and in F16
  that alone moved this model's logits by 7e-2 from the golden (on a BF16 checkpoint, the real
  Qwen3-Next's, those factors keep 8 bits).
- Matrices are drawn N(0, 1/fan_in) (not transformers' 0.02), norms and the DeltaNet's A_log/dt_bias
  are randomized too, so every op moves the logits (std ~1) and none is an identity.
- Router weights are scaled up, and the weight seed is the first whose top-k routing margins are all
  >= 0.05 in the router logits (every token, every layer), so a rounding difference cannot flip an
  expert choice.
- K and V are rounded to F16 before attention (f16_kv_cache), as the engines' default cache stores
  them (llama.cpp's default -ctk/-ctv f16; unrounded, qwen3moe's logits differed by 1.8e-3 through
  this alone, and 6e-5 with it).
- The Gated DeltaNet's delta rule runs as transformers' recurrent form in float64 (delta_rule_float64),
  not its prompt path, which computes in float32 (1e-5 apart on these logits: so the golden's own
  error stays far below the bounds).
- A byte-level vocabulary of 256 tokens plus <|endoftext|> (no merges): the tokenizer the converter
  needs, at a size that keeps the files small.
"""
import json
import os
import sys

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_file import write_golden  # noqa: E402

N_VOCAB = 257
TOKENS = [256, 100, 32, 101, 102, 40, 41, 58, 10, 32, 32, 32, 32, 114, 101, 116, 117, 114, 110, 32,
          120, 43, 49, 10]

COMMON = dict(vocab_size=N_VOCAB, hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=64,
              num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True, rms_norm_eps=1e-6,
              max_position_embeddings=256, bos_token_id=256, eos_token_id=256, decoder_sparse_step=1,
              mlp_only_layers=[], intermediate_size=128)

MODELS = {
    # Untied output, two layers, RoPE theta of Qwen3-30B-A3B.
    "qwen3moe": (transformers.Qwen3MoeConfig, "Qwen3MoeForCausalLM",
                 dict(COMMON, num_hidden_layers=2, num_experts=8, tie_word_embeddings=False, rope_theta=1e6)),
    # Three Gated DeltaNet layers and one gated attention layer (the 80B's pattern), partial RoPE (1/4
    # of the head), a shared expert, tied output as the shared miniature.
    "qwen3next": (transformers.Qwen3NextConfig, "Qwen3NextForCausalLM",
                  dict(COMMON, num_hidden_layers=4, num_experts=8, tie_word_embeddings=True, rope_theta=1e4,
                       partial_rotary_factor=0.25, shared_expert_intermediate_size=32,
                       layer_types=["linear_attention"] * 3 + ["full_attention"], full_attention_interval=4,
                       linear_conv_kernel_dim=4, linear_key_head_dim=64, linear_value_head_dim=64,
                       linear_num_key_heads=2, linear_num_value_heads=4)),
}


def make_config(cls, kwargs):
    # transformers 5 takes rope settings in rope_parameters; older releases take rope_theta directly.
    kwargs = dict(kwargs)
    theta = kwargs.pop("rope_theta")
    factor = kwargs.get("partial_rotary_factor")
    config = cls(**kwargs)
    if hasattr(config, "rope_parameters") and config.rope_parameters is not None:
        config.rope_parameters["rope_theta"] = theta
        if factor is not None:
            config.rope_parameters["partial_rotary_factor"] = factor
    else:
        config.rope_theta = theta
    if getattr(config, "num_experts", None) is None and hasattr(config, "num_local_experts"):
        config.num_local_experts = kwargs["num_experts"]
    return config


def randomize(model, gen):
    def normal(shape, std, mean=0.0):
        return (mean + std * torch.randn(shape, generator=gen, dtype=torch.float64)).to(torch.float32)

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.log(torch.empty(p.shape, dtype=torch.float64).uniform_(1, 16, generator=gen)))
            elif name.endswith("dt_bias"):
                p.copy_(normal(p.shape, 0.5))
            elif p.dim() == 1:  # norms: around the value transformers starts them at (1, or 0 for 1 + w)
                p.copy_(p + normal(p.shape, 0.2))
            elif "conv1d" in name:
                p.copy_(normal(p.shape, 0.5))
            else:
                fan_in = p.shape[-1]
                std = 1.0 / np.sqrt(fan_in)
                if name.endswith("mlp.gate.weight") or name.endswith(".router.weight"):
                    std *= 4  # wide routing margins
                p.copy_(normal(p.shape, std))
            if p.dim() > 1:
                p.copy_(p.to(torch.float16).to(torch.float32))  # what the F16 checkpoint stores


def delta_rule_float64(query, key, value, g, beta, initial_state=None, output_final_state=False,
                       use_qk_l2norm_in_kernel=False, **_):
    """transformers' own recurrent form of the gated delta rule (torch_recurrent_gated_delta_rule), in
    float64. Its prompt path (torch_chunk_gated_delta_rule) computes in float32: 1e-5 from this in the
    logits of these models."""
    if use_qk_l2norm_in_kernel:
        query = query * torch.rsqrt((query * query).sum(-1, keepdim=True) + 1e-6)
        key = key * torch.rsqrt((key * key).sum(-1, keepdim=True) + 1e-6)
    query, key, value, beta, g = (x.transpose(1, 2).to(torch.float64) for x in (query, key, value, beta, g))
    b, h, n, dk = key.shape
    query = query / np.sqrt(dk)
    state = torch.zeros(b, h, dk, value.shape[-1], dtype=torch.float64)
    out = torch.zeros(b, h, n, value.shape[-1], dtype=torch.float64)
    for t in range(n):
        state = state * g[:, :, t].exp()[..., None, None]
        kv_mem = (state * key[:, :, t, :, None]).sum(-2)
        delta = (value[:, :, t] - kv_mem) * beta[:, :, t, None]
        state = state + key[:, :, t, :, None] * delta[:, :, None, :]
        out[:, :, t] = (state * query[:, :, t, :, None]).sum(-2)
    return out.transpose(1, 2).contiguous(), (state if output_final_state else None)


DELTA_RULE_CALLS = [0]


def exact_linear_attention(model):
    """Every delta-rule function a Gated DeltaNet layer holds (its chunked prompt form and its recurrent
    decode form, whatever transformers names them) becomes delta_rule_float64."""
    def counted(*args, **kwargs):
        DELTA_RULE_CALLS[0] += 1
        return delta_rule_float64(*args, **kwargs)

    for layer in model.model.layers:
        if hasattr(layer, "linear_attn"):
            module = sys.modules[type(layer.linear_attn).__module__]  # transformers 5.17 calls these by name
            for name in ("torch_chunk_gated_delta_rule", "torch_recurrent_gated_delta_rule"):
                if hasattr(module, name):
                    setattr(module, name, counted)
            for name in list(vars(layer.linear_attn)):
                if "delta_rule" in name and callable(getattr(layer.linear_attn, name)):
                    setattr(layer.linear_attn, name, counted)


def f16_kv_cache(model):
    """K (after RoPE) and V rounded to F16 before attention, where llama.cpp's default cache (and
    Shootout's, on the CPU and the GPU) stores them: the one rounding the engines make by design that
    the golden reproduces, so that an F32 conversion can be held to 1e-3 (unrounded, the qwen3moe
    model's logits differ by 1.8e-3 through this alone)."""
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("eager")
    else:
        model.config._attn_implementation = "eager"
    for layer in model.model.layers:
        if hasattr(layer, "self_attn"):
            module = sys.modules[type(layer.self_attn).__module__]
            if not getattr(module.eager_attention_forward, "rounds_kv", False):
                plain = module.eager_attention_forward

                def rounded(mod, query, key, value, *args, _plain=plain, **kwargs):
                    def f16(t):
                        return t.to(torch.float16).to(t.dtype)
                    return _plain(mod, query, f16(key), f16(value), *args, **kwargs)

                rounded.rounds_kv = True
                module.eager_attention_forward = rounded


def routing_margins(model, tokens):
    """The smallest gap, over tokens and MoE layers, between the k-th and (k+1)-th router logits."""
    k = model.config.num_experts_per_tok
    margins = []

    def hook(module, args):
        x = args[0].reshape(-1, args[0].shape[-1])
        logits = x @ module.gate.weight.T.to(x.dtype)
        top = torch.topk(logits, k + 1, dim=-1).values
        margins.append(float((top[:, k - 1] - top[:, k]).min()))

    handles = [layer.mlp.register_forward_pre_hook(hook) for layer in model.model.layers if hasattr(layer.mlp, "gate")]
    with torch.no_grad():
        model(input_ids=torch.tensor([tokens]), use_cache=False)
    for h in handles:
        h.remove()
    return min(margins)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_files(out_dir):
    byte_chars = bytes_to_unicode()
    vocab = {byte_chars[b]: b for b in range(256)}
    special = {"id": 256, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
               "normalized": False, "special": True}
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": [special], "normalizer": None,
        "pre_tokenizer": byte_level, "post_processor": None, "decoder": dict(byte_level, add_prefix_space=True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": []},
    }
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, indent=1)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump({"eos_token": "<|endoftext|>", "tokenizer_class": "PreTrainedTokenizerFast"}, f, indent=1)


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else "tests/data/model"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    for seed, (arch, (config_cls, class_name, kwargs)) in enumerate(MODELS.items()):
        config = make_config(config_cls, kwargs)
        config.architectures = [class_name]
        # The first weight seed whose routing margins are wide (deterministic: same files every run).
        for weight_seed in range(1000 * (seed + 1), 1000 * (seed + 1) + 100):
            torch.manual_seed(weight_seed)
            model = getattr(transformers, class_name)(config).to(torch.float32).eval()
            if hasattr(model, "set_experts_implementation"):
                model.set_experts_implementation("eager")  # the grouped_mm backend takes no float64
            randomize(model, torch.Generator().manual_seed(weight_seed))
            model = model.to(torch.float64)
            exact_linear_attention(model)
            f16_kv_cache(model)
            margin = routing_margins(model, TOKENS)
            if margin >= 0.05:
                break
        else:
            raise SystemExit(f"{arch}: no seed gave routing margins >= 0.05")
        calls_before = DELTA_RULE_CALLS[0]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([TOKENS]), use_cache=False).logits[0].numpy().astype(np.float64)
        if arch == "qwen3next" and DELTA_RULE_CALLS[0] == calls_before:
            raise SystemExit("qwen3next: the float64 delta rule was not called (transformers changed its names?)")
        out_dir = os.path.join(out_root, f"tiny-{arch}-hf")
        os.makedirs(out_dir, exist_ok=True)
        vectors = {n: p.detach().to(torch.float32).clone() for n, p in model.named_parameters() if p.dim() == 1}
        model = model.to(torch.float16)
        for n, p in model.named_parameters():  # vectors stay F32, unrounded (see the docstring)
            if n in vectors:
                p.data = vectors[n]
        model.save_pretrained(out_dir, safe_serialization=True)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(out_dir, extra)):
                os.remove(os.path.join(out_dir, extra))
        tokenizer_files(out_dir)
        write_golden(os.path.join(out_root, f"tiny-{arch}-hf.golden"), TOKENS, logits, N_VOCAB)
        print(f"{arch}: {sum(p.numel() for p in model.parameters())} parameters, logits std {logits.std():.3f} "
              f"max |logit| {np.abs(logits).max():.3f}, weight seed {weight_seed}, routing margin {margin:.3f}, top-1 {logits.argmax(-1).tolist()}")


if __name__ == "__main__":
    main()
