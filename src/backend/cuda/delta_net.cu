// Gated DeltaNet on the device (qwen3next's linear-attention layers): the short causal convolution
// over the q/k/v mix and the gated delta rule, each from a zero state or from a kept one, as the
// CPU's delta_net.cpp (layouts in backend/ops.h).
//
// The recurrence is sequential in tokens but independent per value element: the state S_h is kept
// transposed (row j: what value element j reads from the keys), and each row lives in the registers
// of kRowLanes = 8 lanes (head_k_dim / 8 values each), so a warp holds 4 rows and one 3-step shuffle
// reduces all 4 at once (a 32-lane row needed 5 steps per row). The inputs of a tile of tokens (q,
// k, the block's v elements, alpha, beta) are copied into shared memory by the whole block with
// cp.async while the previous tile runs, so the token loop reads only shared memory and registers:
// no global load is on the recurrence's critical path, one barrier per tile.
//
// Both kernels are launched with PDL (pdl.cuh) and wait before touching memory: the activations and
// states they read are written by earlier kernels (no __restrict__ on them, rule 4); the convolution
// kernel, dt_bias and a are uploaded weights.
#include "backend/cuda/async_copy.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/pdl.cuh"

#include <cstdint>

namespace shootout::cuda {
namespace {

constexpr int kThreads = 256;

// Grid (channel block, token block): each thread runs `tokens_per_thread` consecutive outputs of one
// channel. tokens_per_thread >= n_taps - 1, so every output that reads the old state (t < n_taps - 1)
// belongs to token block 0, and that block's thread of the channel is the one that then shifts the
// state in place: no other thread reads the state it overwrites.
__global__ void causal_conv1d_silu_kernel(const float* x, const float* __restrict__ kernel, int64_t n_taps,
                                          int64_t n_channels, int64_t n_tokens, int64_t tokens_per_thread,
                                          float* conv_state, float* out) {
    pdl_launch_dependents();
    pdl_wait();
    const int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= n_channels) return;
    const int64_t n_past = n_taps - 1;
    const float* w = kernel + c * n_taps;
    const int64_t t_begin = (int64_t)blockIdx.y * tokens_per_thread;
    const int64_t t_end = t_begin + tokens_per_thread < n_tokens ? t_begin + tokens_per_thread : n_tokens;
    for (int64_t t = t_begin; t < t_end; ++t) {
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
    if (!conv_state || blockIdx.y != 0) return;
    // Row r becomes position n_tokens - n_past + r of (state, x); it reads state row r + n_tokens >= r,
    // not yet overwritten since rows go in ascending order.
    for (int64_t r = 0; r < n_past; ++r) {
        const int64_t p = n_tokens - n_past + r;
        conv_state[r * n_channels + c] = p >= 0 ? x[p * n_channels + c] : conv_state[(n_past + p) * n_channels + c];
    }
}

// ---- The gated delta rule.

constexpr int kRowLanes = 8;                         // lanes sharing one state row
constexpr int kDeltaRows = kThreads / kRowLanes;     // state rows (value elements) per block
constexpr unsigned kFullMask = 0xffffffffu;

__device__ float softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); }  // as the CPU and ggml

// The sum over a row's 8 lanes (lanes 8r..8r+7 of the warp); every lane of the group gets it.
__device__ __forceinline__ float row_sum(float v) {
    v += __shfl_xor_sync(kFullMask, v, 1);
    v += __shfl_xor_sync(kFullMask, v, 2);
    v += __shfl_xor_sync(kFullMask, v, 4);
    return v;
}
// Two independent row sums, their shuffles interleaved (the second chain's latency hides in the first's).
__device__ __forceinline__ void row_sum2(float& a, float& b) {
#pragma unroll
    for (int off = 1; off < kRowLanes; off <<= 1) {
        const float a_other = __shfl_xor_sync(kFullMask, a, off);
        const float b_other = __shfl_xor_sync(kFullMask, b, off);
        a += a_other;
        b += b_other;
    }
}

// Shared memory of one tile of kVec (= head_k_dim / 32) tokens' inputs; two of them alternate.
template <int kVec>
struct DeltaTile {
    static constexpr int kDk = 32 * kVec;
    // Tokens per tile: 16 KiB of q and k (16 tokens at head_k_dim 128), at most 32 (one gate per lane).
    static constexpr int kTokens = 64 / kVec < 32 ? 64 / kVec : 32;
    static constexpr int kK = 0;                                // k[kTokens][kDk]
    static constexpr int kQ = kK + kTokens * kDk;               // q[kTokens][kDk]
    static constexpr int kV = kQ + kTokens * kDk;               // v[kTokens][kDeltaRows] (the block's rows)
    static constexpr int kAlpha = kV + kTokens * kDeltaRows;    // alpha[kTokens]
    static constexpr int kBeta = kAlpha + kTokens;              // beta_logit[kTokens]
    static constexpr int kFloats = (kBeta + kTokens + 3) / 4 * 4;  // keeps the second tile 16-byte aligned
};

// Grid: (value head, block of kDeltaRows value elements); kThreads threads, 8 per row. kVec =
// head_k_dim / 32: a lane holds kVec float4 of its row, elements 32 m + 4 g .. + 3 (g = lane % 8), so
// the 8 lanes of a row read 128 contiguous bytes of k or q from shared memory (no bank conflict; the
// 4 rows of a warp read the same bytes: broadcast). aligned16: q, k and state are 16-byte aligned.
template <int kVec>
__global__ void __launch_bounds__(kThreads)
    gated_delta_rule_kernel(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                            const float* __restrict__ dt_bias, const float* __restrict__ a, int64_t n_tokens,
                            int64_t n_k, int64_t n_v, int64_t d_v, int64_t ratio, int64_t gate_step, bool gates_interleaved,
                            float scale, bool aligned16, float* state, float* out) {
    pdl_launch_dependents();
    pdl_wait();
    using Tile = DeltaTile<kVec>;
    constexpr int kDk = Tile::kDk, kTileTokens = Tile::kTokens;
    __shared__ __align__(16) float smem[2][Tile::kFloats];

    const int64_t h = blockIdx.x, hk = h / ratio;
    const int64_t gate0 = gates_interleaved ? h + hk * ratio : h;  // DeltaNetShape::gate_index(0, h)
    const int tid = threadIdx.x, lane = tid % 32, g = tid % kRowLanes, row = tid / kRowLanes;
    const int64_t j0 = (int64_t)blockIdx.y * kDeltaRows, j = j0 + row;
    const bool active = j < d_v;

    // Copies tokens t0 .. t0 + n - 1's inputs into tile buffer `buf` (not yet waited for).
    auto stage = [&](int64_t t0, int n, float* buf) {
        constexpr int kRowVec = kDk / 4;  // float4 per q or k row
        for (int i = tid; i < n * kRowVec; i += kThreads) {
            const int tt = i / kRowVec, c = 4 * (i % kRowVec);
            const int64_t src = ((t0 + tt) * n_k + hk) * kDk + c;
            float* kd = buf + Tile::kK + tt * kDk + c;
            float* qd = buf + Tile::kQ + tt * kDk + c;
            if (aligned16) {
                copy16(kd, k + src);
                copy16(qd, q + src);
            } else {
                for (int e = 0; e < 4; ++e) {
                    copy4(kd + e, k + src + e);
                    copy4(qd + e, q + src + e);
                }
            }
        }
        for (int i = tid; i < n * kDeltaRows; i += kThreads) {
            const int tt = i / kDeltaRows, r = i % kDeltaRows;
            float* vd = buf + Tile::kV + i;
            if (j0 + r < d_v)
                copy4(vd, v + ((t0 + tt) * n_v + h) * d_v + j0 + r);
            else
                *vd = 0.0f;  // rows past head_v_dim: read as zeros, their state stays zero
        }
        if (tid < n) {
            copy4(buf + Tile::kAlpha + tid, alpha + (t0 + tid) * gate_step + gate0);
            copy4(buf + Tile::kBeta + tid, beta_logit + (t0 + tid) * gate_step + gate0);
        }
    };
    auto tile_tokens = [&](int64_t t0) { return (int)(n_tokens - t0 < kTileTokens ? n_tokens - t0 : kTileTokens); };

    // The first tile's copies fly while the state comes in.
    stage(0, tile_tokens(0), smem[0]);

    float* row_state = state && active ? state + (h * d_v + j) * kDk : nullptr;
    float4 s[kVec];
#pragma unroll
    for (int m = 0; m < kVec; ++m) {
        const int i = 32 * m + 4 * g;
        if (!row_state)
            s[m] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        else if (aligned16)
            s[m] = *reinterpret_cast<const float4*>(row_state + i);
        else
            s[m] = make_float4(row_state[i], row_state[i + 1], row_state[i + 2], row_state[i + 3]);
    }
    const float dt = dt_bias[h], a_neg = a[h];

    int tile = 0;
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kTileTokens, ++tile) {
        const int n = tile_tokens(t0);
        // This tile's copies are the only ones in flight; after the barrier every thread's copies are
        // visible and every thread is done with the other buffer (the previous tile), which the next
        // tile's copies now overwrite while this one runs.
        copy_wait_all();
        __syncthreads();
        if (t0 + kTileTokens < n_tokens) stage(t0 + kTileTokens, tile_tokens(t0 + kTileTokens), smem[(tile + 1) & 1]);
        const float* buf = smem[tile & 1];

        // Lane l's gates are token t0 + l's (every warp computes them; a shuffle hands them out).
        float lane_decay = 0.0f, lane_beta = 0.0f;
        if (lane < n) {
            lane_decay = expf(softplus(buf[Tile::kAlpha + lane] + dt) * a_neg);
            lane_beta = 1.0f / (1.0f + expf(-buf[Tile::kBeta + lane]));
        }
        // Token tt's S^T q is reduced together with token tt + 1's S^T k (two independent shuffle
        // chains side by side), so only one 3-step reduction a token is on the recurrence's path;
        // the last token's is reduced after the loop. Outputs go through a pointer that steps a
        // token's row at a time.
        const int64_t out_stride = n_v * d_v;
        float* o = out + (t0 * n_v + h) * d_v + (active ? j : 0);  // the pending S^T q's output
        const bool store = g == 0 && active;
        float sq_part = 0.0f;  // this lane's share of the previous token's S^T q
        // The next token's gates and k are fetched while this token's update runs, off the
        // recurrence's path (after the tile's last token: a row of q or stale k, not used).
        float decay = __shfl_sync(kFullMask, lane_decay, 0), beta = __shfl_sync(kFullMask, lane_beta, 0);
        float4 kr[kVec];
#pragma unroll
        for (int m = 0; m < kVec; ++m) kr[m] = reinterpret_cast<const float4*>(buf + Tile::kK)[g + 8 * m];
#pragma unroll 2
        for (int tt = 0; tt < n; ++tt) {
            // S = decay S, then S^T k: four independent partial sums (x, y, z, w) shorten the chain.
            float4 sk4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
            for (int m = 0; m < kVec; ++m) {
                s[m].x *= decay;
                s[m].y *= decay;
                s[m].z *= decay;
                s[m].w *= decay;
                sk4.x = fmaf(s[m].x, kr[m].x, sk4.x);
                sk4.y = fmaf(s[m].y, kr[m].y, sk4.y);
                sk4.z = fmaf(s[m].z, kr[m].z, sk4.z);
                sk4.w = fmaf(s[m].w, kr[m].w, sk4.w);
            }
            float sk = (sk4.x + sk4.y) + (sk4.z + sk4.w);
            row_sum2(sk, sq_part);
            if (tt > 0) {
                if (store) *o = sq_part * scale;
                o += out_stride;
            }
            const float delta = (buf[Tile::kV + tt * kDeltaRows + row] - sk) * beta;
            decay = __shfl_sync(kFullMask, lane_decay, tt + 1);
            beta = __shfl_sync(kFullMask, lane_beta, tt + 1);
            const float4* k_next = reinterpret_cast<const float4*>(buf + Tile::kK + (tt + 1) * kDk) + g;
            const float4* qt = reinterpret_cast<const float4*>(buf + Tile::kQ + tt * kDk) + g;
            // S += k delta^T, then this lane's share of S^T q.
            float4 sq4 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
            for (int m = 0; m < kVec; ++m) {
                const float4 qr = qt[8 * m];
                s[m].x = fmaf(kr[m].x, delta, s[m].x);
                s[m].y = fmaf(kr[m].y, delta, s[m].y);
                s[m].z = fmaf(kr[m].z, delta, s[m].z);
                s[m].w = fmaf(kr[m].w, delta, s[m].w);
                sq4.x = fmaf(s[m].x, qr.x, sq4.x);
                sq4.y = fmaf(s[m].y, qr.y, sq4.y);
                sq4.z = fmaf(s[m].z, qr.z, sq4.z);
                sq4.w = fmaf(s[m].w, qr.w, sq4.w);
                kr[m] = k_next[8 * m];
            }
            sq_part = (sq4.x + sq4.y) + (sq4.z + sq4.w);
        }
        const float sq = row_sum(sq_part);
        if (store) *o = sq * scale;
    }
    if (!row_state) return;
#pragma unroll
    for (int m = 0; m < kVec; ++m) {
        float* dst = row_state + 32 * m + 4 * g;
        if (aligned16) {
            *reinterpret_cast<float4*>(dst) = s[m];
        } else {
            dst[0] = s[m].x;
            dst[1] = s[m].y;
            dst[2] = s[m].z;
            dst[3] = s[m].w;
        }
    }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <int kVec>
void launch_delta_rule(const float* q, const float* k, const float* v, const float* alpha, const float* beta_logit,
                       const float* dt_bias, const float* a, int64_t n_tokens, const backend::DeltaNetShape& sh,
                       float* state, float* out, cudaStream_t stream) {
    const dim3 grid((unsigned)sh.n_v_heads, (unsigned)((sh.head_v_dim + kDeltaRows - 1) / kDeltaRows));
    const float scale = 1.0f / sqrtf((float)sh.head_k_dim);
    const bool vec = aligned16(q) && aligned16(k) && (!state || aligned16(state));
    const int64_t gate_step = sh.gate_index(1, 0) - sh.gate_index(0, 0);  // a token's gates
    launch_kernel(LaunchShape{grid, dim3(kThreads), 0, stream}, true, gated_delta_rule_kernel<kVec>, q, k, v, alpha,
                  beta_logit, dt_bias, a, n_tokens, sh.n_k_heads, sh.n_v_heads, sh.head_v_dim,
                  sh.n_v_heads / sh.n_k_heads, gate_step, sh.gates_interleaved, scale, vec, state, out);
}

}  // namespace

void causal_conv1d_silu(const float* x, const float* kernel, int64_t n_taps, int64_t n_channels, int64_t n_tokens,
                        float* conv_state, float* out, StreamHandle stream) {
    if (n_taps <= 0 || n_channels <= 0) fail("causal_conv1d_silu", "empty convolution kernel");
    if (n_tokens <= 0) return;
    // 8 outputs a thread: at least the K-1 that read the state (see the kernel), and enough for the
    // grid's 65535 token blocks.
    int64_t tokens_per_thread = n_taps - 1 > 8 ? n_taps - 1 : 8;
    if ((n_tokens + tokens_per_thread - 1) / tokens_per_thread > 65535) tokens_per_thread = (n_tokens + 65534) / 65535;
    const dim3 grid((unsigned)((n_channels + kThreads - 1) / kThreads),
                    (unsigned)((n_tokens + tokens_per_thread - 1) / tokens_per_thread));
    launch_kernel(LaunchShape{grid, dim3(kThreads), 0, static_cast<cudaStream_t>(stream)}, true,
                  causal_conv1d_silu_kernel, x, kernel, n_taps, n_channels, n_tokens, tokens_per_thread, conv_state,
                  out);
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
