#!/usr/bin/env python3
"""Golden statistics for Shootout's evaluator, computed with numpy from llama.cpp's formulas
(tools/perplexity/perplexity.cpp, kl_divergence()), independently of the C++ code.

Writes to tests/data/eval/ (or --out DIR):
  golden_logits.bin   "SHGOLD01", int32 n_ctx, n_vocab, n_chunks, int32 tokens[n_chunks*n_ctx],
                      float32 reference[n_rows][n_vocab], float32 variant[n_rows][n_vocab]
                      (rows: the scored positions n_ctx/2 .. n_ctx-2 of each chunk, chunk by chunk)
  golden_base.logits  the reference rows as llama-perplexity --kl-divergence-base writes them (uint16)
  golden_stats.txt    "name value" per statistic, exact log-softmax reference (Shootout's streaming mode)
  golden_stats_llama.txt  the same, reference decoded from golden_base.logits (llama.cpp's own numbers)

Run: python3 tools/eval_reference.py [--out DIR] [--seed N]
"""
import argparse
import os
import struct

import numpy as np

N_CTX, N_VOCAB, N_CHUNKS = 24, 37, 12  # odd vocab exercises the row padding; 132 scored tokens (>= 100)
LOG_PROB_CUT = -16.0


def log_softmax(logits):
    x = logits.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))


def first_argmax(rows):
    return rows.argmax(axis=1)  # numpy returns the first maximum, as llama.cpp's strict '>' scan


def nearest_int(v):
    # ggml's nearest_int: round half to even (the 1.5*2^23 magic constant)
    return np.rint(v.astype(np.float32)).astype(np.int64)


def encode_llama_row(logits):
    """perplexity.cpp log_softmax(n_vocab, logits, log_prob, tok): float32 arithmetic."""
    l = logits.astype(np.float32)
    max_logit = l.max()
    min_logit = max(l.min(), np.float32(max_logit - np.float32(16)))
    sum_exp = float(np.exp((l - max_logit).astype(np.float32)).astype(np.float64).sum())
    log_sum_exp = np.float32(np.log(sum_exp))
    min_log_prob = np.float32(np.float32(min_logit - max_logit) - log_sum_exp)
    scale = np.float32(np.float32(max_logit - min_logit) / np.float32(65535))
    q = np.zeros(len(l) + (len(l) % 2), dtype=np.uint16)
    if scale != 0:
        inv_scale = np.float32(1) / scale
        above = l > min_logit
        q[:len(l)][above] = nearest_int(inv_scale * (l[above] - min_logit))
    return scale, min_log_prob, q


def decode_llama_row(scale, min_log_prob, q, n_vocab):
    return (np.float32(scale) * q[:n_vocab].astype(np.float32) + np.float32(min_log_prob)).astype(np.float32)


def mean_and_uncertainty(s, s2, n):
    if n < 1:
        return 0.0, 0.0
    f = s / n
    df = s2 / n - f * f
    df = np.sqrt(df / (n - 1)) if (df > 0 and n > 10) else 0.0
    return f, df


def covariance(sa, sb, sab, n):
    if n < 10:
        return 0.0
    return (sab / n - (sa / n) * (sb / n)) / (n - 1)


def percentile(sorted_values, fraction):
    f32 = np.float32
    if fraction <= 0:
        return sorted_values[0]
    if fraction >= 1:
        return sorted_values[-1]
    p = f32(f32(fraction) * f32(len(sorted_values) - 1))
    ip = int(p)
    p = f32(p - f32(ip))
    return f32(f32(f32(1) - p) * sorted_values[ip] + p * sorted_values[min(ip + 1, len(sorted_values) - 1)])


def median(sorted_values):
    n = len(sorted_values)
    if n % 2 == 0:
        return np.float32(np.float32(0.5) * np.float32(sorted_values[n // 2] + sorted_values[n // 2 - 1]))
    return sorted_values[n // 2]


def statistics(nll_q, nll_b, kld, dp, same):
    """Every number of llama.cpp's final block, from float32 per-token values."""
    n = len(kld)
    d = lambda a: a.astype(np.float64)
    out = {"n_tokens": n}
    lq = mean_and_uncertainty(d(nll_q).sum(), (d(nll_q) ** 2).sum(), n)
    lb = mean_and_uncertainty(d(nll_b).sum(), (d(nll_b) ** 2).sum(), n)
    out["ppl_q"], out["ppl_q_err"] = np.exp(lq[0]), np.exp(lq[0]) * lq[1]
    out["ppl_base"], out["ppl_base_err"] = np.exp(lb[0]), np.exp(lb[0]) * lb[1]
    cov = covariance(d(nll_q).sum(), d(nll_b).sum(), (d(nll_q) * d(nll_b)).sum(), n)
    out["cor"] = cov / (lq[1] * lb[1])
    out["ln_ratio"] = lq[0] - lb[0]
    out["ln_ratio_err"] = np.sqrt(lq[1] ** 2 + lb[1] ** 2 - 2 * cov)
    out["ratio"] = np.exp(out["ln_ratio"])
    out["ratio_err"] = out["ratio"] * out["ln_ratio_err"]
    out["diff"] = out["ppl_q"] - out["ppl_base"]
    out["diff_err"] = np.sqrt(out["ppl_q_err"] ** 2 + out["ppl_base_err"] ** 2
                              - 2 * out["ppl_q"] * out["ppl_base"] * cov)
    out["kld_mean"], out["kld_err"] = mean_and_uncertainty(d(kld).sum(), (d(kld) ** 2).sum(), n)
    for name, values in (("kld", np.sort(kld)), ("dp", np.sort(dp))):
        out[name + "_max"] = values[-1]
        for label, fraction in (("99_9", 0.999), ("99", 0.99), ("95", 0.95), ("90", 0.90), ("75", 0.75),
                                ("25", 0.25), ("10", 0.10), ("5", 0.05), ("1", 0.01), ("0_1", 0.001)):
            out[name + "_p" + label] = percentile(values, fraction)
        out[name + "_median"] = median(values)
        out[name + "_min"] = values[0]
    out["dp_mean"], out["dp_err"] = mean_and_uncertainty(d(dp).sum(), (d(dp) ** 2).sum(), n)
    mse = mean_and_uncertainty((d(dp) ** 2).sum(), (d(dp) ** 4).sum(), n)
    out["rms_dp"] = np.sqrt(mse[0])
    out["rms_dp_err"] = 0.5 / out["rms_dp"] * mse[1]
    out["n_same_top"] = int(same.sum())
    p = same.sum() / n
    out["same_top"], out["same_top_err"] = p, np.sqrt(p * (1 - p) / (n - 1))
    return out


def write_stats(path, stats):
    with open(path, "w") as f:
        for k, v in stats.items():
            f.write(f"{k} {float(v):.17g}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "eval"))
    ap.add_argument("--seed", type=int, default=20260815)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    n_scored = N_CTX - 1 - N_CTX // 2
    n_rows = N_CHUNKS * n_scored
    tokens = rng.integers(0, N_VOCAB, size=N_CHUNKS * N_CTX, dtype=np.int32)
    # Wide logits (sd 5) put some tokens below max - 16, so the KLD cut and the file's clipping matter;
    # a few rows are sharply peaked; the variant is the reference plus noise that flips some top-1s.
    reference = (rng.standard_normal((n_rows, N_VOCAB)) * 5).astype(np.float32)
    reference[::7, 3] += 25
    variant = (reference + rng.standard_normal((n_rows, N_VOCAB)) * 0.6).astype(np.float32)
    # The text continues as the reference predicts (sampled from its softmax), so PPL is realistic.
    rows = np.arange(n_rows)
    probs = np.exp(log_softmax(reference))
    positions = [c * N_CTX + N_CTX // 2 + r + 1 for c in range(N_CHUNKS) for r in range(n_scored)]
    for i, pos in enumerate(positions):
        tokens[pos] = rng.choice(N_VOCAB, p=probs[i] / probs[i].sum())
    nxt = tokens[positions]

    lq = log_softmax(variant)
    nll_q = (-lq[rows, nxt]).astype(np.float32)

    # Streaming mode: exact reference log-probs, the same cut as llama.cpp.
    lp = log_softmax(reference)
    p32 = np.exp(lp.astype(np.float32)).astype(np.float64)
    kld = np.where(lp > LOG_PROB_CUT, p32 * (lp - lq), 0.0).sum(axis=1).astype(np.float32)
    nll_b = (-lp[rows, nxt]).astype(np.float32)
    dp = (np.exp(lq[rows, nxt]) - np.exp(lp[rows, nxt])).astype(np.float32)
    same = first_argmax(variant) == first_argmax(reference)
    write_stats(os.path.join(args.out, "golden_stats.txt"), statistics(nll_q, nll_b, kld, dp, same))

    # llama.cpp mode: reference decoded from its uint16 file.
    encoded = [encode_llama_row(reference[i]) for i in range(n_rows)]
    dec = np.stack([decode_llama_row(s, m, q, N_VOCAB) for s, m, q in encoded])
    dec64 = dec.astype(np.float64)
    kld_l = np.where(dec > np.float32(LOG_PROB_CUT), np.exp(dec).astype(np.float64) * (dec64 - lq), 0.0)
    kld_l = kld_l.sum(axis=1).astype(np.float32)
    nll_bl = (-dec[rows, nxt]).astype(np.float32)
    dp_l = (np.exp(lq[rows, nxt]) - np.exp(-nll_bl.astype(np.float64))).astype(np.float32)
    same_l = first_argmax(variant) == first_argmax(dec)
    write_stats(os.path.join(args.out, "golden_stats_llama.txt"), statistics(nll_q, nll_bl, kld_l, dp_l, same_l))

    with open(os.path.join(args.out, "golden_logits.bin"), "wb") as f:
        f.write(b"SHGOLD01" + struct.pack("<3i", N_CTX, N_VOCAB, N_CHUNKS))
        f.write(tokens.astype("<i4").tobytes())
        f.write(reference.astype("<f4").tobytes())
        f.write(variant.astype("<f4").tobytes())
    with open(os.path.join(args.out, "golden_base.logits"), "wb") as f:
        f.write(b"_logits_" + struct.pack("<3i", N_CTX, N_VOCAB, N_CHUNKS))
        f.write(tokens.astype("<i4").tobytes())
        for scale, min_log_prob, q in encoded:
            f.write(struct.pack("<ff", scale, min_log_prob))
            f.write(q.astype("<u2").tobytes())


if __name__ == "__main__":
    main()
