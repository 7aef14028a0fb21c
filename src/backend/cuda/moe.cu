// The mixture-of-experts pieces of the CUDA backend: the router's softmax and top-k, the grouping of
// the routed rows by expert, the gather of those rows, the weighted sum of the experts' outputs, and
// the F32 product the routers use. The experts' own products are moe_matvec (moe_matvec.cuh).
//
// Launched with PDL (pdl.cuh): each kernel lets the next one be scheduled, then waits before touching
// memory. Logits, ids, routing weights, grouped rows and expert outputs are written by earlier
// kernels, so they carry no __restrict__ and no __ldg (rule 4); only the F32 matrices (uploaded) do.
#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <string>

#include "backend/cuda/cublas_util.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/pdl.cuh"

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

// A block of kThreads per output element y[t][o], 16-byte loads (n_in a multiple of 4, rows 16-byte
// aligned): a decode step's router is 128..512 dot products of a few thousand elements, so one warp
// each left most SMs idle and waited on its loads one after another (~6 us on an H200 for 128 x 2048).
__global__ void matmul_f32_kernel(const float* __restrict__ w, int64_t n_in, int64_t n_out, const float* x,
                                  int64_t n_tokens, float* y) {
    pdl_launch_dependents();
    pdl_wait();
    const int64_t idx = blockIdx.x;
    const int64_t t = idx / n_out, o = idx % n_out;
    const float4* wr = reinterpret_cast<const float4*>(w + o * n_in);
    const float4* xr = reinterpret_cast<const float4*>(x + t * n_in);
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < n_in / 4; i += kThreads) {
        const float4 a = __ldg(wr + i), b = xr[i];  // x: a coherent load (rule 4)
        sum += a.x * b.x + a.y * b.y + a.z * b.z + a.w * b.w;
    }
    __shared__ float partial[kWarpsPerBlock];
    sum = warp_sum(sum);
    if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        float total = 0.f;
        for (int w = 0; w < kWarpsPerBlock; ++w) total += partial[w];
        y[idx] = total;
    }
}

// The same for any n_in or alignment.
__global__ void matmul_f32_scalar_kernel(const float* __restrict__ w, int64_t n_in, int64_t n_out, const float* x,
                                         int64_t n_tokens, float* y) {
    pdl_launch_dependents();
    pdl_wait();
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
// With `groups` (one token only) lane 0 also writes moe_group's output for that token: its slots
// are distinct experts (ties aside), each one row, in increasing expert order.
struct GroupsOut {
    int32_t *row_token, *row_of_slot, *expert, *first, *count, *n_active;
};
__global__ void moe_route_kernel(const float* logits_all, int64_t n_tokens, int64_t n_expert, int64_t n_used,
                                 bool normalize, int32_t* ids, float* weights, GroupsOut groups) {
    pdl_launch_dependents();
    pdl_wait();
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
    // sort), and a chosen expert is marked -1 (probabilities are >= 0). Lane j keeps slot j (j < 32)
    // in registers: written once at the end, in parallel, not read back from global memory (a decode
    // step's routing was ~8 us of serial global round trips).
    float chosen_sum = 0.f;
    int32_t my_e = 0;
    float my_w = 0.f;
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
        if (j < 32 && lane == j) {
            my_e = best_e;
            my_w = best;
        }
        if (lane == 0) {
            if (j >= 32) {  // past the lanes (no model routes so many): stored now, divided below
                ids[t * n_used + j] = best_e;
                weights[t * n_used + j] = best;
            }
            probs[best_e] = -1.f;
        }
        __syncwarp();
        chosen_sum += best;  // in slot order, as the CPU
    }
    const float divisor = normalize ? fmaxf(chosen_sum, 6.103515625e-5f) : 1.f;
    if (lane < n_used) {
        ids[t * n_used + lane] = my_e;
        weights[t * n_used + lane] = normalize ? my_w / divisor : my_w;
    }
    if (lane == 0 && normalize)
        for (int64_t j = 32; j < n_used; ++j) weights[t * n_used + j] /= divisor;
    if (groups.row_token) {
        // Rank of slot j among the token's experts (equal ids, from NaN logits only, by slot): lane j
        // takes slot j, the other slots' ids from their lanes (n_used <= 32 here, moe_route_group_one).
        int32_t rank = 0;
        for (int k = 0; k < (int)n_used; ++k) {  // every lane shuffles; lanes past n_used write nothing
            const int32_t other = __shfl_sync(0xffffffffu, my_e, k);
            rank += other < my_e || (other == my_e && k < lane);
        }
        if (lane < n_used) {
            groups.row_token[rank] = 0;
            groups.row_of_slot[lane] = rank;
            groups.expert[rank] = my_e;
            groups.first[rank] = rank;
            groups.count[rank] = 1;
        }
        if (lane == 0) *groups.n_active = (int32_t)n_used;
    }
}

__global__ void gather_rows_kernel(const float* x, const int32_t* rows, int64_t n, size_t total, float* out) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t r = idx / (size_t)n, i = idx % (size_t)n;
    out[idx] = x[(size_t)rows[r] * (size_t)n + i];
}

__global__ void moe_combine_kernel(const float* expert_out, const int32_t* row_of_slot, const float* weights,
                                   int64_t n_used, int64_t n, size_t total, float* out) {
    pdl_launch_dependents();
    pdl_wait();
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

// One block of kGroupThreads threads, thread e owning expert e's count (n_expert <= kGroupThreads): a
// histogram of the slots' experts in shared memory, one block-wide exclusive scan of the counts (the
// first grouped row of each expert) and of the "has rows" flags (each active expert's place in the
// list), then each slot takes the next row of its expert.
constexpr int kGroupThreads = (int)kMaxMoeExperts;
__global__ void __launch_bounds__(kGroupThreads)
moe_group_kernel(const int32_t* ids, int64_t n_slots, int64_t n_used, int n_expert, int32_t* row_token,
                 int32_t* row_of_slot, int32_t* expert_out, int32_t* first_out, int32_t* count_out, int32_t* n_active) {
    pdl_launch_dependents();
    pdl_wait();
    __shared__ int counts[kGroupThreads], cursor[kGroupThreads];
    __shared__ int warp_rows[kGroupThreads / 32], warp_active[kGroupThreads / 32];
    const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    counts[tid] = 0;
    __syncthreads();
    for (int64_t s = tid; s < n_slots; s += kGroupThreads) {
        const int e = ids[s];
        if ((unsigned)e < (unsigned)n_expert) atomicAdd(&counts[e], 1);
    }
    __syncthreads();
    const int count = tid < n_expert ? counts[tid] : 0, active = count > 0;
    int rows = count, act = active;  // inclusive scans within the warp
#pragma unroll
    for (int off = 1; off < 32; off <<= 1) {
        const int r = __shfl_up_sync(0xffffffffu, rows, off), a = __shfl_up_sync(0xffffffffu, act, off);
        if (lane >= off) {
            rows += r;
            act += a;
        }
    }
    if (lane == 31) {
        warp_rows[warp] = rows;
        warp_active[warp] = act;
    }
    __syncthreads();
    if (warp == 0) {  // exclusive scan of the warps' totals
        const int wr = warp_rows[lane], wa = warp_active[lane];
        int r = wr, a = wa;
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
            const int rr = __shfl_up_sync(0xffffffffu, r, off), aa = __shfl_up_sync(0xffffffffu, a, off);
            if (lane >= off) {
                r += rr;
                a += aa;
            }
        }
        warp_rows[lane] = r - wr;
        warp_active[lane] = a - wa;
    }
    __syncthreads();
    const int first = warp_rows[warp] + rows - count, place = warp_active[warp] + act - active;
    cursor[tid] = first;
    if (active) {
        expert_out[place] = tid;
        first_out[place] = first;
        count_out[place] = count;
    }
    if (tid == kGroupThreads - 1) *n_active = place + active;
    __syncthreads();
    for (int64_t s = tid; s < n_slots; s += kGroupThreads) {
        const int e = ids[s];
        if ((unsigned)e >= (unsigned)n_expert) continue;
        const int r = atomicAdd(&cursor[e], 1);
        row_token[r] = (int32_t)(s / n_used);
        row_of_slot[s] = r;
    }
}

}  // namespace

void moe_group(const int32_t* ids, int64_t n_tokens, int64_t n_used, int64_t n_expert, int32_t* row_token,
               int32_t* row_of_slot, int32_t* expert, int32_t* first, int32_t* count, int32_t* n_active,
               StreamHandle stream) {
    if (n_expert <= 0 || n_expert > kGroupThreads)
        fail("moe_group", std::to_string(n_expert) + " experts: the grouping kernel takes 1.." +
                              std::to_string(kGroupThreads));
    if (n_tokens <= 0 || n_used <= 0) return;
    launch_kernel(LaunchShape{dim3(1), dim3(kGroupThreads), 0, static_cast<cudaStream_t>(stream)}, true,
                  moe_group_kernel, ids, n_tokens * n_used, n_used, (int)n_expert, row_token, row_of_slot, expert,
                  first, count, n_active);
    check_last_launch("moe_group");
}

void matmul_f32(const float* w, int64_t n_in, int64_t n_out, const float* x, int64_t n_tokens, float* y,
                StreamHandle stream) {
    const size_t n = (size_t)(n_tokens * n_out);
    if (n == 0) return;
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (n_tokens > kMaxMatvecTokens) {
        // A prompt: one F32 GEMM (cuBLAS keeps F32 here: no TF32 unless its math mode asks for it).
        // y^T (n_out x n_tokens, column-major) = W (stored n_out rows of n_in) times x^T.
        const float alpha = 1.0f, beta = 0.0f;
        check_cublas(cublasSetStream(cublas_handle(), s), "cublasSetStream", "matmul_f32");
        check_cublas(cublasSgemm(cublas_handle(), CUBLAS_OP_T, CUBLAS_OP_N, (int)n_out, (int)n_tokens, (int)n_in, &alpha,
                                 w, (int)n_in, x, (int)n_in, &beta, y, (int)n_out),
                     "cublasSgemm", "matmul_f32");
        return;
    }
    const bool wide = n_in % 4 == 0 && (uintptr_t)w % 16 == 0 && (uintptr_t)x % 16 == 0;
    // w: an uploaded F32 matrix (routers, the shared-expert gate), read with __ldg after the wait.
    if (wide)
        launch_kernel(LaunchShape{dim3((unsigned)n), dim3(kThreads), 0, s}, true, matmul_f32_kernel, w, n_in, n_out, x,
                      n_tokens, y);
    else
        launch_kernel(LaunchShape{dim3(blocks_for(n, kWarpsPerBlock)), dim3(kThreads), 0, s}, true,
                      matmul_f32_scalar_kernel, w, n_in, n_out, x, n_tokens, y);
    check_last_launch("matmul_f32");
}

namespace {
void launch_route(const float* router_logits, int64_t n_tokens, int64_t n_expert, int64_t n_used, bool normalize,
                  int32_t* ids, float* weights, const GroupsOut& groups, StreamHandle stream) {
    const size_t shared_bytes = (size_t)(kWarpsPerBlock * n_expert) * sizeof(float);
    if (shared_bytes > 48 * 1024)
        fail("moe_route", std::to_string(n_expert) + " experts exceed the routing kernel's shared memory");
    const LaunchShape shape{dim3(blocks_for((size_t)n_tokens, kWarpsPerBlock)), dim3(kThreads), shared_bytes,
                            static_cast<cudaStream_t>(stream)};
    launch_kernel(shape, true, moe_route_kernel, router_logits, n_tokens, n_expert, n_used, normalize, ids, weights,
                  groups);
    check_last_launch("moe_route");
}
}  // namespace

void moe_route(const float* router_logits, int64_t n_tokens, int64_t n_expert, int64_t n_used, bool normalize,
               int32_t* ids, float* weights, StreamHandle stream) {
    if (n_tokens <= 0) return;
    launch_route(router_logits, n_tokens, n_expert, n_used, normalize, ids, weights, GroupsOut{}, stream);
}

void moe_route_group_one(const float* router_logits, int64_t n_expert, int64_t n_used, bool normalize, int32_t* ids,
                         float* weights, int32_t* row_token, int32_t* row_of_slot, int32_t* expert, int32_t* first,
                         int32_t* count, int32_t* n_active, StreamHandle stream) {
    if (n_used > 32) {  // the fused kernel keeps a slot a lane
        launch_route(router_logits, 1, n_expert, n_used, normalize, ids, weights, GroupsOut{}, stream);
        moe_group(ids, 1, n_used, n_expert, row_token, row_of_slot, expert, first, count, n_active, stream);
        return;
    }
    launch_route(router_logits, 1, n_expert, n_used, normalize, ids, weights,
                 GroupsOut{row_token, row_of_slot, expert, first, count, n_active}, stream);
}

int64_t expert_rows(const DeviceWeight& stack, int64_t n_expert) {
    if (n_expert <= 0 || stack.n_out % n_expert != 0)
        fail(stack.name, "stack of " + std::to_string(stack.n_out) + " rows does not split into " +
                             std::to_string(n_expert) + " experts");
    return stack.n_out / n_expert;
}

ExpertGemmGrid expert_gemm_grid(int64_t rows_per_expert, int weight_rows, int64_t n_expert, int64_t n_tokens,
                                int64_t n_used) {
    const int64_t n_slots = n_tokens * n_used, max_active = std::min(n_slots, n_expert);
    const int tile_tokens = n_slots >= 24 * n_expert ? 64 : 32;
    return {dim3((unsigned)((rows_per_expert + weight_rows - 1) / weight_rows),
                 (unsigned)((n_tokens + tile_tokens - 1) / tile_tokens), (unsigned)max_active),
            tile_tokens};
}

void gather_rows(const float* x, const int32_t* rows, int64_t n_rows, int64_t n, float* out, StreamHandle stream) {
    const size_t total = (size_t)(n_rows * n);
    if (total == 0) return;
    launch_kernel(elementwise_shape(total, stream), true, gather_rows_kernel, x, rows, n, total, out);
    check_last_launch("gather_rows");
}

void moe_combine(const float* expert_out, const int32_t* row_of_slot, const float* weights, int64_t n_tokens,
                 int64_t n_used, int64_t n, float* out, StreamHandle stream) {
    const size_t total = (size_t)(n_tokens * n);
    if (total == 0) return;
    launch_kernel(elementwise_shape(total, stream), true, moe_combine_kernel, expert_out, row_of_slot, weights, n_used, n,
                  total, out);
    check_last_launch("moe_combine");
}

}  // namespace shootout::cuda
