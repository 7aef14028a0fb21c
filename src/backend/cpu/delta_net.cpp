// Gated DeltaNet on the CPU (qwen3next's linear-attention layers): the short causal convolution over
// the q/k/v mix and the gated delta rule, each from a zero state or from the state a previous call of
// the sequence left (backend/ops.h has the layouts). The recurrence is computed token by token as
// ggml's CPU gated_delta_net op does (the state kept transposed so every update is a contiguous
// row), in F32.
#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "backend/cpu/cpu_ops.h"
#include "util/error.h"
#include "util/parallel.h"

namespace shootout::cpu {

namespace {

const float* f32_vector(const backend::Weight& w, int64_t n, const char* what) {
    if (w.type != quant::TypeId::F32 || w.n_in * w.n_out != n)
        fail(w.name, std::string(what) + " must be an F32 vector of " + std::to_string(n) + " elements");
    return reinterpret_cast<const float*>(w.data);
}

float softplus(float x) { return x > 20.0f ? x : std::log(1.0f + std::exp(x)); }  // as ggml

}  // namespace

void causal_conv1d_silu(ThreadPool& pool, const float* x, const backend::Weight& kernel, int64_t n_tokens,
                        float* conv_state, float* out) {
    if (kernel.type != quant::TypeId::F32) fail(kernel.name, "convolution kernel must be F32");
    const int64_t n_taps = kernel.n_in, n_channels = kernel.n_out, n_past = n_taps - 1;
    const float* w = reinterpret_cast<const float*>(kernel.data);
    pool.parallel_for((size_t)n_channels, [&](size_t begin, size_t end, int) {
        for (int64_t t = 0; t < n_tokens; ++t) {
            for (size_t c = begin; c < end; ++c) {
                // Tap i sees position t - (n_taps - 1) + i; earlier positions are the state's rows
                // (or zeros without one).
                float sum = 0.0f;
                for (int64_t i = 0; i < n_taps; ++i) {
                    const int64_t p = t - n_past + i;
                    if (p >= 0)
                        sum += x[p * n_channels + (int64_t)c] * w[(int64_t)c * n_taps + i];
                    else if (conv_state)
                        sum += conv_state[(n_past + p) * n_channels + (int64_t)c] * w[(int64_t)c * n_taps + i];
                }
                out[t * n_channels + (int64_t)c] = sum / (1.0f + std::exp(-sum));
            }
        }
        if (!conv_state) return;
        // Keep the last n_past input rows: row r is position n_tokens - n_past + r of (state, x).
        // Rows are written in ascending order and row r reads state row r + n_tokens >= r, which is
        // not yet overwritten, so the shift works in place (each thread owns its channels).
        for (int64_t r = 0; r < n_past; ++r) {
            const int64_t p = n_tokens - n_past + r;
            for (size_t c = begin; c < end; ++c) {
                conv_state[r * n_channels + (int64_t)c] =
                    p >= 0 ? x[p * n_channels + (int64_t)c] : conv_state[(n_past + p) * n_channels + (int64_t)c];
            }
        }
    });
}

void gated_delta_rule(ThreadPool& pool, const float* q, const float* k, const float* v, const float* alpha,
                      const float* beta_logit, const backend::Weight& dt_bias, const backend::Weight& a,
                      int64_t n_tokens, const backend::DeltaNetShape& shape, float* state_all, float* out) {
    const int64_t n_k = shape.n_k_heads, n_v = shape.n_v_heads, d_k = shape.head_k_dim, d_v = shape.head_v_dim;
    if (n_k <= 0 || n_v % n_k != 0) fail("gated_delta_rule", "value heads are not a multiple of key heads");
    const float* dt = f32_vector(dt_bias, n_v, "ssm_dt.bias");
    const float* a_neg = f32_vector(a, n_v, "ssm_a");
    const int64_t ratio = n_v / n_k;
    const float scale = 1.0f / std::sqrt((float)d_k);

    pool.parallel_for((size_t)n_v, [&](size_t begin, size_t end, int) {
        // state[j * d_k + i] = S[i][j]: row j holds what value element j reads from the keys. With a
        // kept state the head's slice of it is updated in place, else a zeroed local one.
        std::vector<float> local(state_all ? 0 : (size_t)(d_v * d_k)), delta((size_t)d_v);
        for (size_t hv = begin; hv < end; ++hv) {
            const int64_t h = (int64_t)hv, hk = h / ratio;
            const std::span<float> state =
                state_all ? std::span<float>(state_all + h * d_v * d_k, (size_t)(d_v * d_k)) : std::span<float>(local);
            if (!state_all) std::fill(state.begin(), state.end(), 0.0f);
            for (int64_t t = 0; t < n_tokens; ++t) {
                const float* qt = q + (t * n_k + hk) * d_k;
                const float* kt = k + (t * n_k + hk) * d_k;
                const float* vt = v + (t * n_v + h) * d_v;
                const int64_t gi = shape.gate_index(t, h);
                const float decay = std::exp(softplus(alpha[gi] + dt[h]) * a_neg[h]);
                const float beta = 1.0f / (1.0f + std::exp(-beta_logit[gi]));
                for (float& s : state) s *= decay;
                for (int64_t j = 0; j < d_v; ++j) delta[j] = (vt[j] - dot_f32(&state[j * d_k], kt, d_k)) * beta;
                for (int64_t j = 0; j < d_v; ++j) {
                    float* row = &state[j * d_k];
                    const float dj = delta[j];
                    for (int64_t i = 0; i < d_k; ++i) row[i] += kt[i] * dj;
                }
                float* ot = out + (t * n_v + h) * d_v;
                for (int64_t j = 0; j < d_v; ++j) ot[j] = dot_f32(&state[j * d_k], qt, d_k) * scale;
            }
        }
    });
}

}  // namespace shootout::cpu
