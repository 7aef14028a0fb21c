// Gated DeltaNet on the device (qwen3next's linear-attention layers): the short causal convolution
// over the q/k/v mix and the gated delta rule, each from a zero state or from a kept one, as the
// CPU's delta_net.cpp (layouts in backend/ops.h).
//
// The recurrence is sequential in tokens but independent per value element: the state S_h is kept
// transposed (row j: what value element j reads from the keys), and each warp holds a few rows in
// registers, a row's head_k_dim values spread over the 32 lanes. A token then costs two warp
// reductions per row (S^T k and S^T q) and no shared memory or block barrier.
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"

namespace shootout::cuda {
namespace {

constexpr int kThreads = 256;

// One thread per channel, over all tokens: outputs first, then the state shifted in place (each
// thread owns its channel's column of the state, so no other thread reads what it overwrites).
__global__ void causal_conv1d_silu_kernel(const float* __restrict__ x, const float* __restrict__ kernel,
                                          int64_t n_taps, int64_t n_channels, int64_t n_tokens,
                                          float* __restrict__ conv_state, float* __restrict__ out) {
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_channels) return;
    const int64_t n_past = n_taps - 1;
    const float* w = kernel + c * n_taps;
    for (int64_t t = 0; t < n_tokens; ++t) {
        // Tap i sees position t - n_past + i; earlier positions are the state's rows (or zeros).
        float sum = 0.0f;
        for (int64_t i = 0; i < n_taps; ++i) {
            const int64_t p = t - n_past + i;
            if (p >= 0)
                sum += x[p * n_channels + c] * w[i];
            else if (conv_state)
                sum += conv_state[(n_past + p) * n_channels + c] * w[i];
        }
        out[t * n_channels + c] = sum / (1.0f + expf(-sum));
    }
    if (!conv_state) return;
    // Row r becomes position n_tokens - n_past + r of (state, x); it reads state row r + n_tokens >= r,
    // not yet overwritten since rows go in ascending order.
    for (int64_t r = 0; r < n_past; ++r) {
        const int64_t p = n_tokens - n_past + r;
        conv_state[r * n_channels + c] = p >= 0 ? x[p * n_channels + c] : conv_state[(n_past + p) * n_channels + c];
    }
}

constexpr int kDeltaWarps = 4;        // warps per block
constexpr int kDeltaRowsPerWarp = 4;  // state rows (value elements) per warp
constexpr int kDeltaRowsPerBlock = kDeltaWarps * kDeltaRowsPerWarp;

__device__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

__device__ float softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); }  // as the CPU and ggml

// Grid: (value head, block of kDeltaRowsPerBlock value elements). kPerLane = head_k_dim / 32.
template <int kPerLane>
__global__ void __launch_bounds__(kDeltaWarps * 32)
    gated_delta_rule_kernel(const float* __restrict__ q, const float* __restrict__ k, const float* __restrict__ v,
                            const float* __restrict__ alpha, const float* __restrict__ beta_logit,
                            const float* __restrict__ dt_bias, const float* __restrict__ a, int64_t n_tokens,
                            int64_t n_k, int64_t n_v, int64_t d_v, int64_t ratio, float scale,
                            float* __restrict__ state, float* __restrict__ out) {
    constexpr int64_t d_k = kPerLane * 32;
    const int64_t h = blockIdx.x, hk = h / ratio;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t j0 = ((int64_t)blockIdx.y * kDeltaWarps + warp) * kDeltaRowsPerWarp;
    float* head_state = state ? state + h * d_v * d_k : nullptr;

    float s[kDeltaRowsPerWarp][kPerLane];
#pragma unroll
    for (int r = 0; r < kDeltaRowsPerWarp; ++r) {
        const int64_t j = j0 + r;
#pragma unroll
        for (int m = 0; m < kPerLane; ++m)
            s[r][m] = head_state && j < d_v ? head_state[j * d_k + lane + 32 * m] : 0.0f;
    }
    const float dt = dt_bias[h], a_neg = a[h];
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* qt = q + (t * n_k + hk) * d_k;
        const float* kt = k + (t * n_k + hk) * d_k;
        float kr[kPerLane], qr[kPerLane];
#pragma unroll
        for (int m = 0; m < kPerLane; ++m) {
            kr[m] = kt[lane + 32 * m];
            qr[m] = qt[lane + 32 * m];
        }
        const float decay = expf(softplus(alpha[t * n_v + h] + dt) * a_neg);
        const float beta = 1.0f / (1.0f + expf(-beta_logit[t * n_v + h]));
        const float* vt = v + (t * n_v + h) * d_v;
        float* ot = out + (t * n_v + h) * d_v;
#pragma unroll
        for (int r = 0; r < kDeltaRowsPerWarp; ++r) {
            const int64_t j = j0 + r;
            if (j >= d_v) break;  // the same for the whole warp
            float sk = 0.0f;
#pragma unroll
            for (int m = 0; m < kPerLane; ++m) {
                s[r][m] *= decay;
                sk += s[r][m] * kr[m];
            }
            const float delta = (vt[j] - warp_sum(sk)) * beta;
            float sq = 0.0f;
#pragma unroll
            for (int m = 0; m < kPerLane; ++m) {
                s[r][m] += kr[m] * delta;
                sq += s[r][m] * qr[m];
            }
            sq = warp_sum(sq);
            if (lane == 0) ot[j] = sq * scale;
        }
    }
    if (!head_state) return;
#pragma unroll
    for (int r = 0; r < kDeltaRowsPerWarp; ++r) {
        const int64_t j = j0 + r;
        if (j >= d_v) break;
#pragma unroll
        for (int m = 0; m < kPerLane; ++m) head_state[j * d_k + lane + 32 * m] = s[r][m];
    }
}

template <int kPerLane>
void launch_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                       const float* dt_bias, const float* a, int64_t n_tokens, const backend::DeltaNetShape& sh,
                       float* state, float* out, cudaStream_t stream) {
    const dim3 grid((unsigned)sh.n_v_heads, (unsigned)((sh.head_v_dim + kDeltaRowsPerBlock - 1) / kDeltaRowsPerBlock));
    const float scale = 1.0f / sqrtf((float)sh.head_k_dim);
    gated_delta_rule_kernel<kPerLane><<<grid, kDeltaWarps * 32, 0, stream>>>(
        q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, sh.n_k_heads, sh.n_v_heads, sh.head_v_dim,
        sh.n_v_heads / sh.n_k_heads, scale, state, out);
}

}  // namespace

void causal_conv1d_silu(const float* x, const float* kernel, int64_t n_taps, int64_t n_channels, int64_t n_tokens,
                        float* conv_state, float* out, StreamHandle stream) {
    if (n_taps <= 0 || n_channels <= 0) fail("causal_conv1d_silu", "empty convolution kernel");
    if (n_tokens <= 0) return;
    const unsigned blocks = (unsigned)((n_channels + kThreads - 1) / kThreads);
    causal_conv1d_silu_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        x, kernel, n_taps, n_channels, n_tokens, conv_state, out);
    check_last_launch("causal_conv1d_silu");
}

void gated_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                      const float* dt_bias, const float* a, int64_t n_tokens, const backend::DeltaNetShape& shape,
                      float* state, float* out, StreamHandle stream) {
    const int64_t n_k = shape.n_k_heads, n_v = shape.n_v_heads, d_k = shape.head_k_dim, d_v = shape.head_v_dim;
    if (n_k <= 0 || n_v <= 0 || n_v % n_k != 0) fail("gated_delta_rule", "value heads are not a multiple of key heads");
    if (d_k <= 0 || d_k % 32 != 0 || d_k > 256 || d_v <= 0)
        fail("gated_delta_rule", "head_k_dim " + std::to_string(d_k) + " is not a multiple of 32 up to 256 (CUDA kernel)");
    if (n_tokens <= 0) return;
    auto s = static_cast<cudaStream_t>(stream);
    switch (d_k / 32) {
        case 1: launch_delta_rule<1>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        case 2: launch_delta_rule<2>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        case 3: launch_delta_rule<3>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        case 4: launch_delta_rule<4>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        case 5: launch_delta_rule<5>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        case 6: launch_delta_rule<6>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        case 7: launch_delta_rule<7>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
        default: launch_delta_rule<8>(q, k, v, alpha, beta_logit, dt_bias, a, n_tokens, shape, state, out, s); break;
    }
    check_last_launch("gated_delta_rule");
}

}  // namespace shootout::cuda
