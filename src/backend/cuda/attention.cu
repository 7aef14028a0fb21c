// Causal grouped-query attention over the F16 KV cache, one pass with an online softmax (as flash
// attention, but on the CUDA cores): a block takes one query head and a tile of queries, walks the
// keys 32 at a time through shared memory, each warp owning a few queries. Per 32-key tile a lane
// scores one key (the whole q . k dot product, q broadcast from shared memory), the warp folds the
// 32 scores into the running max and sum, and each lane accumulates V for its own head dimensions.
// Scores, softmax and the weighted sum are F32 on the F16-rounded K and V, as the CPU computes them.
// The decode kernels (store_kv, attention; a one-token step stores its key and value inside the
// decode kernel, attention_decode.cu) are launched with PDL (pdl.cuh): trigger, wait, then work;
// q, k, v and the cache, written by the kernels before, are read with coherent loads (no __restrict__).
#include <cuda_fp16.h>

#include <string>

#include "backend/cuda/attention_decode.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/warp_reduce.cuh"

namespace shootout::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kKeysPerTile = 32;
constexpr int64_t kMinGemmTokens = 32;  // from here on attention_prefill_gemm

// k_cache, v_cache: the layer's cache; rows from pos0 (read from pos0_device when given).
__global__ void store_kv_kernel(const float* k, const float* v, size_t n, __half* __restrict__ k_cache,
                                __half* __restrict__ v_cache, int64_t pos0, const int64_t* __restrict__ pos0_device,
                                int64_t kv_row) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (pos0_device) pos0 = *pos0_device;
    const size_t at = (size_t)(pos0 * kv_row) + i;
    k_cache[at] = __float2half_rn(k[i]);
    v_cache[at] = __float2half_rn(v[i]);
}

// HD: head dimension; QPW: queries per warp.
template <int HD, int QPW>
__global__ void __launch_bounds__(kWarps * 32)
attention_kernel(const __half2* k_cache, const __half2* v_cache, const float* q, int64_t n_tokens, int64_t pos0,
                 const int64_t* __restrict__ pos0_device, int n_head, int n_head_kv, float scale,
                 float* __restrict__ out) {
    pdl_launch_dependents();
    pdl_wait();
    if (pos0_device) pos0 = *pos0_device;
    constexpr int kQueries = kWarps * QPW;
    constexpr int kPairs = HD / 2;       // half2 per head row
    constexpr int kPairsPerLane = HD / 64;
    __shared__ float2 q_s[kQueries][kPairs];
    __shared__ __half2 k_s[kKeysPerTile][kPairs + 1];  // +1: lane j reads row j, rows one bank apart
    __shared__ __half2 v_s[kKeysPerTile][kPairs];

    const int head = blockIdx.x, kv_head = head / (n_head / n_head_kv);
    const int64_t t0 = (int64_t)blockIdx.y * kQueries;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t q_row = (int64_t)n_head * HD;
    const int64_t kv_row_pairs = (int64_t)n_head_kv * kPairs;

    for (int i = threadIdx.x; i < kQueries * kPairs; i += kWarps * 32) {
        const int qi = i / kPairs, c = i % kPairs;
        const int64_t t = t0 + qi;
        q_s[qi][c] = t < n_tokens ? reinterpret_cast<const float2*>(q + t * q_row + (int64_t)head * HD)[c]
                                  : make_float2(0.f, 0.f);
    }

    float m[QPW], l[QPW], acc[QPW][kPairsPerLane][2];
#pragma unroll
    for (int qi = 0; qi < QPW; ++qi) {
        m[qi] = -INFINITY;
        l[qi] = 0.f;
#pragma unroll
        for (int c = 0; c < kPairsPerLane; ++c) acc[qi][c][0] = acc[qi][c][1] = 0.f;
    }

    const int64_t last_pos = pos0 + (t0 + kQueries < n_tokens ? t0 + kQueries : n_tokens) - 1;  // the furthest any query here sees
    for (int64_t p0 = 0; p0 <= last_pos; p0 += kKeysPerTile) {
        __syncthreads();  // the previous tile is consumed (and q_s written, the first time)
        for (int i = threadIdx.x; i < kKeysPerTile * kPairs; i += kWarps * 32) {
            const int r = i / kPairs, c = i % kPairs;
            const int64_t p = p0 + r;
            const __half2 zero = __floats2half2_rn(0.f, 0.f);
            const int64_t at = p * kv_row_pairs + (int64_t)kv_head * kPairs + c;
            k_s[r][c] = p <= last_pos ? k_cache[at] : zero;
            v_s[r][c] = p <= last_pos ? v_cache[at] : zero;
        }
        __syncthreads();
#pragma unroll
        for (int qi = 0; qi < QPW; ++qi) {
            const int ql = warp * QPW + qi;
            const int64_t t = t0 + ql;
            if (t >= n_tokens) break;  // warp-uniform
            const int64_t pos = pos0 + t;
            if (p0 > pos) continue;
            float s = 0.f;
#pragma unroll 8
            for (int c = 0; c < kPairs; ++c) {
                const float2 kf = __half22float2(k_s[lane][c]);
                const float2 qf = q_s[ql][c];
                s += qf.x * kf.x + qf.y * kf.y;
            }
            s = p0 + lane <= pos ? s * scale : -INFINITY;
            const float m_new = fmaxf(m[qi], warp_max(s));  // finite: key p0 <= pos is always seen
            const float correction = expf(m[qi] - m_new);
            const float p = expf(s - m_new);
            l[qi] = l[qi] * correction + warp_add(p);
#pragma unroll
            for (int c = 0; c < kPairsPerLane; ++c) {
                acc[qi][c][0] *= correction;
                acc[qi][c][1] *= correction;
            }
            const int n_keys = pos - p0 + 1 < kKeysPerTile ? (int)(pos - p0 + 1) : kKeysPerTile;
            for (int j = 0; j < n_keys; ++j) {
                const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int c = 0; c < kPairsPerLane; ++c) {
                    const float2 vf = __half22float2(v_s[j][lane + 32 * c]);
                    acc[qi][c][0] += pj * vf.x;
                    acc[qi][c][1] += pj * vf.y;
                }
            }
            m[qi] = m_new;
        }
    }

#pragma unroll
    for (int qi = 0; qi < QPW; ++qi) {
        const int64_t t = t0 + warp * QPW + qi;
        if (t >= n_tokens) break;
        const float inv = 1.0f / l[qi];
        float2* o = reinterpret_cast<float2*>(out + t * q_row + (int64_t)head * HD);
#pragma unroll
        for (int c = 0; c < kPairsPerLane; ++c) o[lane + 32 * c] = make_float2(acc[qi][c][0] * inv, acc[qi][c][1] * inv);
    }
}

template <int HD, int QPW>
void launch(const uint16_t* k_cache, const uint16_t* v_cache, const float* q, int64_t n_tokens, int64_t pos0,
            const int64_t* pos0_device, const backend::AttentionShape& shape, float scale, float* out,
            cudaStream_t stream) {
    const dim3 grid((unsigned)shape.n_head, (unsigned)((n_tokens + kWarps * QPW - 1) / (kWarps * QPW)));
    launch_kernel({grid, dim3(kWarps * 32), 0, stream}, true, attention_kernel<HD, QPW>,
                  reinterpret_cast<const __half2*>(k_cache), reinterpret_cast<const __half2*>(v_cache), q, n_tokens,
                  pos0, pos0_device, (int)shape.n_head, (int)shape.n_head_kv, scale, out);
}

}  // namespace

void attention(uint16_t* k_cache, uint16_t* v_cache, const float* q, const float* k, const float* v,
               int64_t n_tokens, int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
               StreamHandle stream, const int64_t* pos0_device) {
    if (n_tokens <= 0) return;
    if (shape.n_head_kv <= 0 || shape.n_head % shape.n_head_kv != 0)
        fail("attention", "head count not a multiple of the KV head count");
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    // One token: the decode kernel stores the new row itself (one launch).
    if (n_tokens == 1 && attention_decode_supports(shape, ActivationType::F32)) {
        attention_decode_plain(k_cache, v_cache, q, k, v, pos0, shape, scale, out, s, pos0_device);
        return;
    }
    const int64_t kv_row = shape.n_head_kv * shape.head_dim;
    const size_t n = (size_t)(n_tokens * kv_row);
    launch_kernel({dim3((unsigned)((n + 255) / 256)), dim3(256), 0, s}, true, store_kv_kernel, k, v, n,
                  reinterpret_cast<__half*>(k_cache), reinterpret_cast<__half*>(v_cache), pos0, pos0_device, kv_row);
    check_last_launch("attention (KV store)");
    // Prompts go to the tensor cores; decode steps (a few tokens, positions from device memory in a
    // captured graph) stay on the kernel below.
    if (n_tokens >= kMinGemmTokens && !pos0_device) {
        if (attention_flash_supports(shape))
            attention_prefill_flash(k_cache, v_cache, q, n_tokens, pos0, shape, scale, out, stream);
        else
            attention_prefill_gemm(k_cache, v_cache, q, n_tokens, pos0, shape, scale, out, stream);
        return;
    }
    switch (shape.head_dim) {
        case 64: launch<64, 4>(k_cache, v_cache, q, n_tokens, pos0, pos0_device, shape, scale, out, s); break;
        case 128: launch<128, 4>(k_cache, v_cache, q, n_tokens, pos0, pos0_device, shape, scale, out, s); break;
        case 192: launch<192, 2>(k_cache, v_cache, q, n_tokens, pos0, pos0_device, shape, scale, out, s); break;
        case 256: launch<256, 2>(k_cache, v_cache, q, n_tokens, pos0, pos0_device, shape, scale, out, s); break;
        default:
            fail("attention", "the CUDA attention kernel takes head_dim 64, 128, 192 or 256, got " +
                                  std::to_string(shape.head_dim));
    }
    check_last_launch("attention");
}

}  // namespace shootout::cuda
