// The loops over a whole logits row (151936 floats for Qwen3) behind summarize_row, compare_dense
// (token_metrics.h) and compare_llama_row (llama_logits_file.h): on an 8B shootout the host runs them
// ~600 000 times, and with a scalar expf an element they took ~2 ms a variant row on one core (session
// 18: ~0.8 ms summarize_row, ~1.2 ms compare_dense), by estimate a fifth of a 583-chunk GPU
// shootout's wall time. With AVX2 + FMA the exps go 8 at a time (Cephes' polynomial, within ~2 ulp
// of expf) and the sums in 4-lane doubles, so values differ from the scalar loop's in the last float
// bits (the summation order and the exp's rounding), far inside the 2e-5 the golden statistics
// allow. Without AVX2, the scalar loops.
#pragma once

#include <cstdint>

namespace shootout::eval::detail {

// Largest and smallest of x[0..n) (n >= 1); NaNs are skipped, as the scalar '>' / '<' scan skips them.
void max_min(const float* x, int64_t n, float& max, float& min);

// sum_i exp(x_i - shift) in double (x_i - shift rounded to float first, as expf(x_i - shift) takes it).
// A NaN element makes the sum NaN.
double sum_exp(const float* x, int64_t n, float shift);

// Kullback-Leibler sum of compare_dense: over i with lp_i = double(ref_i) - norm_ref > cut,
// exp(float(lp_i)) * (lp_i - (double(var_i) - norm_var)).
double kld_sum(const float* ref, const float* var, int64_t n, double norm_ref, double norm_var, double cut);

// The same against a row of llama.cpp's --kl-divergence-base file (llama_logits_file.h): over i with
// float log p_i = scale * q_i + min_log_prob > float(cut), exp(log p_i) * (log p_i - (double(var_i) -
// norm_var)).
double kld_sum_llama(const uint16_t* q, const float* var, int64_t n, float scale, float min_log_prob,
                     double norm_var, double cut);

// The same four as plain loops over std::exp (the reference the tests hold the vector ones to).
void max_min_scalar(const float* x, int64_t n, float& max, float& min);
double sum_exp_scalar(const float* x, int64_t n, float shift);
double kld_sum_scalar(const float* ref, const float* var, int64_t n, double norm_ref, double norm_var, double cut);
double kld_sum_llama_scalar(const uint16_t* q, const float* var, int64_t n, float scale, float min_log_prob,
                            double norm_var, double cut);

}  // namespace shootout::eval::detail
