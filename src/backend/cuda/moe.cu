// The mixture-of-experts pieces of the CUDA backend: the router's softmax and top-k, the gather of the
// rows routed to an expert, the weighted sum of the experts' outputs, and the F32 product the routers
// use. The experts' own products are the ordinary matmuls on each expert's rows (cuda_ops.cpp).
#include <algorithm>
#include <cfloat>
#include <cstdint>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"

namespace shootout::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarpsPerBlock = kThreads / 32;

unsigned blocks_for(size_t n, int per_block = kThreads) { return (unsigned)((n + per_block - 1) / per_block); }

__device__ float warp_sum(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// One warp per output element y[t][o].
__global__ void matmul_f32_kernel(const float* __restrict__ w, int64_t n_in, int64_t n_out,
                                  const float* __restrict__ x, int64_t n_tokens, float* __restrict__ y) {
    const int64_t idx = (int64_t)blockIdx.x * kWarpsPerBlock + threadIdx.x / 32;
    if (idx >= n_tokens * n_out) return;
    const int lane = threadIdx.x % 32;
    const int64_t t = idx / n_out, o = idx % n_out;
    const float* wr = w + o * n_in;
    const float* xr = x + t * n_in;
    float sum = 0.f;
    for (int64_t i = lane; i < n_in; i += 32) sum += wr[i] * xr[i];
    sum = warp_sum(sum);
    if (lane == 0) y[idx] = sum;
}

// One warp per token; the token's probabilities in shared memory (n_expert floats per warp).
__global__ void moe_route_kernel(const float* __restrict__ logits_all, int64_t n_tokens, int64_t n_expert,
                                 int64_t n_used, bool normalize, int32_t* __restrict__ ids,
                                 float* __restrict__ weights) {
    extern __shared__ float shared_probs[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int64_t t = (int64_t)blockIdx.x * kWarpsPerBlock + warp;
    if (t >= n_tokens) return;  // whole warps leave: no block-wide barrier below
    float* probs = shared_probs + warp * n_expert;
    const float* logits = logits_all + t * n_expert;

    float max_logit = -FLT_MAX;
    for (int64_t e = lane; e < n_expert; e += 32) max_logit = fmaxf(max_logit, logits[e]);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) max_logit = fmaxf(max_logit, __shfl_xor_sync(0xffffffffu, max_logit, off));
    double sum = 0;  // the CPU (and ggml's soft_max) sums in double
    for (int64_t e = lane; e < n_expert; e += 32) {
        const float p = expf(logits[e] - max_logit);
        probs[e] = p;
        sum += (double)p;
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float inv_sum = (float)(1.0 / sum);
    for (int64_t e = lane; e < n_expert; e += 32) probs[e] *= inv_sum;
    __syncwarp();

    // Top-k by repeated arg-max; among equal probabilities the lower expert wins (the CPU's stable
    // sort), and a chosen expert is marked -1 (probabilities are >= 0).
    float chosen_sum = 0.f;
    for (int64_t j = 0; j < n_used; ++j) {
        float best = -2.f;
        int32_t best_e = INT32_MAX;
        for (int64_t e = lane; e < n_expert; e += 32) {
            if (probs[e] > best) {  // ascending e per lane: the first of equal values stays
                best = probs[e];
                best_e = (int32_t)e;
            }
        }
#pragma unroll
        for (int off = 16; off > 0; off >>= 1) {
            const float other = __shfl_xor_sync(0xffffffffu, best, off);
            const int32_t other_e = __shfl_xor_sync(0xffffffffu, best_e, off);
            if (other > best || (other == best && other_e < best_e)) {
                best = other;
                best_e = other_e;
            }
        }
        __syncwarp();
        if (best_e >= n_expert) best_e = 0;  // NaN logits only: keep the writes in bounds
        if (lane == 0) {
            ids[t * n_used + j] = best_e;
            weights[t * n_used + j] = best;
            probs[best_e] = -1.f;
        }
        __syncwarp();
        chosen_sum += best;  // in slot order, as the CPU
    }
    if (lane == 0 && normalize) {
        const float divisor = fmaxf(chosen_sum, 6.103515625e-5f);
        for (int64_t j = 0; j < n_used; ++j) weights[t * n_used + j] /= divisor;
    }
}

__global__ void gather_rows_kernel(const float* __restrict__ x, const int32_t* __restrict__ rows, int64_t n,
                                   size_t total, float* __restrict__ out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t r = idx / (size_t)n, i = idx % (size_t)n;
    out[idx] = x[(size_t)rows[r] * (size_t)n + i];
}

__global__ void moe_combine_kernel(const float* __restrict__ expert_out, const int32_t* __restrict__ row_of_slot,
                                   const float* __restrict__ weights, int64_t n_used, int64_t n, size_t total,
                                   float* __restrict__ out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t t = idx / (size_t)n, i = idx % (size_t)n;
    float o = 0.f;
    for (int64_t j = 0; j < n_used; ++j) {
        const size_t slot = t * (size_t)n_used + (size_t)j;
        const float y = expert_out[(size_t)row_of_slot[slot] * (size_t)n + i];
        // Product rounded, then added, as the CPU's o[i] += y[i] * w (no fused multiply-add).
        o = j == 0 ? __fmul_rn(y, weights[slot]) : __fadd_rn(o, __fmul_rn(y, weights[slot]));
    }
    out[idx] = o;
}

// Grid: (chunks of the expert's bytes, slot). 16-byte copies when the sizes allow (device rows are
// multiples of 16 bytes), else bytes.
__global__ void stage_experts_kernel(const uint8_t* __restrict__ stack, size_t expert_bytes,
                                     const int32_t* __restrict__ ids, uint8_t* __restrict__ staged, bool wide) {
    const int64_t slot = blockIdx.y;
    const uint8_t* src = stack + (size_t)ids[slot] * expert_bytes;
    uint8_t* dst = staged + (size_t)slot * expert_bytes;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    if (wide) {
        const uint4* s4 = reinterpret_cast<const uint4*>(src);
        uint4* d4 = reinterpret_cast<uint4*>(dst);
        for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < expert_bytes / 16; i += stride) d4[i] = s4[i];
    } else {
        for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < expert_bytes; i += stride) dst[i] = src[i];
    }
}

__global__ void moe_pick_swiglu_kernel(const float* __restrict__ gate, const float* __restrict__ up, int64_t n_used,
                                       int64_t n_slots, int64_t n_ff, float* __restrict__ h) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)(n_slots * n_ff)) return;
    const int64_t s = (int64_t)(idx / (size_t)n_ff), i = (int64_t)(idx % (size_t)n_ff), t = s / n_used;
    const size_t at = (size_t)(t * n_slots * n_ff + s * n_ff + i);
    const float g = gate[at];
    h[idx] = g / (1.0f + expf(-g)) * up[at];  // as swiglu
}

__global__ void moe_combine_diagonal_kernel(const float* __restrict__ y, const float* __restrict__ weights,
                                            int64_t n_used, int64_t n, size_t total, float* __restrict__ out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t t = idx / (size_t)n, i = idx % (size_t)n;
    const size_t n_slots = total / (size_t)n * (size_t)n_used;
    float o = 0.f;
    for (int64_t j = 0; j < n_used; ++j) {
        const size_t s = t * (size_t)n_used + (size_t)j;
        const float v = y[s * n_slots * (size_t)n + s * (size_t)n + i];
        o = j == 0 ? __fmul_rn(v, weights[s]) : __fadd_rn(o, __fmul_rn(v, weights[s]));
    }
    out[idx] = o;
}

}  // namespace

// One token whose n_a + n_b slots were multiplied in two groups (y_a: [n_a][n_a * n], y_b:
// [n_b][n_b * n], each slot's own expert on the diagonal): the same weighted sum, slot by slot in order.
__global__ void moe_combine_split_kernel(const float* __restrict__ y_a, int64_t n_a, const float* __restrict__ y_b,
                                         int64_t n_b, const float* __restrict__ weights, int64_t n,
                                         float* __restrict__ out) {
    const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    float o = 0.f;
    for (int64_t j = 0; j < n_a + n_b; ++j) {
        const float v = j < n_a ? y_a[j * n_a * n + j * n + i] : y_b[(j - n_a) * n_b * n + (j - n_a) * n + i];
        o = j == 0 ? __fmul_rn(v, weights[j]) : __fadd_rn(o, __fmul_rn(v, weights[j]));
    }
    out[i] = o;
}

void stage_experts(const uint8_t* stack, size_t expert_bytes, const int32_t* ids, int64_t n_slots, uint8_t* staged,
                   StreamHandle stream) {
    if (n_slots <= 0 || expert_bytes == 0) return;
    const bool wide = expert_bytes % 16 == 0 && (uintptr_t)stack % 16 == 0 && (uintptr_t)staged % 16 == 0;
    const size_t units = wide ? expert_bytes / 16 : expert_bytes;
    const unsigned chunks = (unsigned)std::min<size_t>((units + kThreads - 1) / kThreads, 64);
    stage_experts_kernel<<<dim3(chunks, (unsigned)n_slots), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        stack, expert_bytes, ids, staged, wide);
    check_last_launch("stage_experts");
}

void moe_pick_swiglu(const float* gate, const float* up, int64_t n_tokens, int64_t n_used, int64_t n_ff, float* h,
                     StreamHandle stream) {
    const int64_t n_slots = n_tokens * n_used;
    const size_t total = (size_t)(n_slots * n_ff);
    if (total == 0) return;
    moe_pick_swiglu_kernel<<<blocks_for(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(gate, up, n_used,
                                                                                                  n_slots, n_ff, h);
    check_last_launch("moe_pick_swiglu");
}

void moe_combine_diagonal(const float* y, const float* weights, int64_t n_tokens, int64_t n_used, int64_t n,
                          float* out, StreamHandle stream) {
    const size_t total = (size_t)(n_tokens * n);
    if (total == 0) return;
    moe_combine_diagonal_kernel<<<blocks_for(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        y, weights, n_used, n, total, out);
    check_last_launch("moe_combine_diagonal");
}

void moe_combine_split(const float* y_a, int64_t n_a, const float* y_b, int64_t n_b, const float* weights, int64_t n,
                       float* out, StreamHandle stream) {
    if (n <= 0) return;
    moe_combine_split_kernel<<<blocks_for((size_t)n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        y_a, n_a, y_b, n_b, weights, n, out);
    check_last_launch("moe_combine_split");
}

void matmul_f32(const float* w, int64_t n_in, int64_t n_out, const float* x, int64_t n_tokens, float* y,
                StreamHandle stream) {
    const size_t n = (size_t)(n_tokens * n_out);
    if (n == 0) return;
    matmul_f32_kernel<<<blocks_for(n, kWarpsPerBlock), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        w, n_in, n_out, x, n_tokens, y);
    check_last_launch("matmul_f32");
}

void moe_route(const float* router_logits, int64_t n_tokens, int64_t n_expert, int64_t n_used, bool normalize,
               int32_t* ids, float* weights, StreamHandle stream) {
    if (n_tokens <= 0) return;
    const size_t shared_bytes = (size_t)(kWarpsPerBlock * n_expert) * sizeof(float);
    if (shared_bytes > 48 * 1024)
        fail("moe_route", std::to_string(n_expert) + " experts exceed the routing kernel's shared memory");
    moe_route_kernel<<<blocks_for((size_t)n_tokens, kWarpsPerBlock), kThreads, shared_bytes,
                       static_cast<cudaStream_t>(stream)>>>(router_logits, n_tokens, n_expert, n_used, normalize,
                                                            ids, weights);
    check_last_launch("moe_route");
}

void gather_rows(const float* x, const int32_t* rows, int64_t n_rows, int64_t n, float* out, StreamHandle stream) {
    const size_t total = (size_t)(n_rows * n);
    if (total == 0) return;
    gather_rows_kernel<<<blocks_for(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(x, rows, n, total, out);
    check_last_launch("gather_rows");
}

void moe_combine(const float* expert_out, const int32_t* row_of_slot, const float* weights, int64_t n_tokens,
                 int64_t n_used, int64_t n, float* out, StreamHandle stream) {
    const size_t total = (size_t)(n_tokens * n);
    if (total == 0) return;
    moe_combine_kernel<<<blocks_for(total), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        expert_out, row_of_slot, weights, n_used, n, total, out);
    check_last_launch("moe_combine");
}

}  // namespace shootout::cuda
