// Prefill attention on the tensor cores through cuBLAS: per query head h (KV head g = h / ratio)
//   S_h = Q_h K_g^T          (Q rounded to F16, K the F16 cache; F32 accumulation, F32 scores)
//   P_h = causal softmax(S_h * scale), rounded to F16
//   O_h = P_h V_g            (F32 accumulation, written straight into out[t][h][:])
// The per-query kernel of attention.cu scores one key per lane on the CUDA cores: fine for decode,
// but at 512 tokens it was a third of a Qwen3-8B prefill and it grows with the square of the context.
// The scores of a head are materialised (n_tokens x n_kv floats), heads in groups so that the scratch
// stays under kScratchBytes; the masked upper triangle is computed and thrown away (2x the FLOPs of
// the causal part, still far cheaper than the CUDA-core kernel). Versus the CPU's all-F32 attention the
// F16 rounding of q and of the probabilities is 2^-12 relative per element, the size of the F16
// activation rounding the F16 weights already see.
#include <cuda_fp16.h>

#include <algorithm>
#include <string>

#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cublas_util.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/ops_kernels.h"

namespace shootout::cuda {
namespace {

constexpr size_t kScratchBytes = size_t(1) << 30;

__global__ void to_half_kernel(const float* __restrict__ x, size_t n, __half* __restrict__ out) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(x[i]);
}

// One block per score row (head-in-group, token): row t sees keys 0..pos0+t.
__global__ void causal_softmax_kernel(const float* __restrict__ s, __half* __restrict__ p, int64_t n_tokens,
                                      int64_t n_kv, int64_t pos0, float scale) {
    __shared__ float shared[32];
    const int64_t row = blockIdx.x;
    const int64_t t = row % n_tokens;
    const int64_t n_valid = pos0 + t + 1;
    const float* sr = s + row * n_kv;
    __half* pr = p + row * n_kv;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < n_valid; j += blockDim.x) m = fmaxf(m, sr[j] * scale);
    m = block_reduce(m, shared, true);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < n_valid; j += blockDim.x) sum += expf(sr[j] * scale - m);
    sum = block_reduce(sum, shared, false);
    const float inv = 1.0f / sum;
    for (int64_t j = threadIdx.x; j < n_kv; j += blockDim.x)
        pr[j] = __float2half_rn(j < n_valid ? expf(sr[j] * scale - m) * inv : 0.0f);
}

// The same softmax, a warp per score row held in registers (kPerLane scores a lane: n_kv <= 32 kPerLane):
// a 512-key row is 16 values a lane, read once, exponentiated once, no block barrier. The block kernel
// above (three passes over the row, two barriers, 2 values a thread at 256 threads) took 44 us a layer
// of a 512-token Qwen3-30B-A3B prefill (ncu, H200): ~1.5 TB/s on a short row. Same per-value
// arithmetic (expf(s * scale - m)); the sum adds in another order.
template <int kPerLane>
__global__ void causal_softmax_warp_kernel(const float* __restrict__ s, __half* __restrict__ p, int64_t n_rows,
                                           int64_t n_tokens, int64_t n_kv, int64_t pos0, float scale) {
    const int64_t row = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    if (row >= n_rows) return;  // whole warps: the shuffles below see all 32 lanes
    const int lane = threadIdx.x % 32;
    const int64_t n_valid = pos0 + row % n_tokens + 1;
    const float* sr = s + row * n_kv;
    __half* pr = p + row * n_kv;
    float v[kPerLane];
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
        const int64_t j = lane + 32 * i;
        v[i] = j < n_valid ? sr[j] * scale : -INFINITY;
        m = fmaxf(m, v[i]);
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, off));
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
        v[i] = lane + 32 * i < n_valid ? expf(v[i] - m) : 0.0f;
        sum += v[i];
    }
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    const float inv = 1.0f / sum;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
        const int64_t j = lane + 32 * i;
        if (j < n_kv) pr[j] = __float2half_rn(v[i] * inv);
    }
}

// The causal softmax of n_rows score rows of n_kv keys into F16 probabilities.
void causal_softmax(const float* s, __half* p, int64_t n_rows, int64_t n_tokens, int64_t n_kv, int64_t pos0,
                    float scale, cudaStream_t st) {
    constexpr int kRowsPerBlock = 8;
    const unsigned warp_blocks = (unsigned)((n_rows + kRowsPerBlock - 1) / kRowsPerBlock);
    const unsigned threads = 32 * kRowsPerBlock;
    if (n_kv <= 32 * 16)
        causal_softmax_warp_kernel<16><<<warp_blocks, threads, 0, st>>>(s, p, n_rows, n_tokens, n_kv, pos0, scale);
    else if (n_kv <= 32 * 32)
        causal_softmax_warp_kernel<32><<<warp_blocks, threads, 0, st>>>(s, p, n_rows, n_tokens, n_kv, pos0, scale);
    else
        causal_softmax_kernel<<<(unsigned)n_rows, 256, 0, st>>>(s, p, n_tokens, n_kv, pos0, scale);
    check_last_launch("attention (softmax)");
}

Workspace& scratch() {
    static Workspace s;  // one stream uses it at a time (the model's)
    return s;
}

}  // namespace

void attention_prefill_gemm(const uint16_t* k_cache, const uint16_t* v_cache, const float* q, int64_t n_tokens,
                            int64_t pos0, const backend::AttentionShape& shape, float scale, float* out,
                            StreamHandle stream) {
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    const int64_t hd = shape.head_dim, n_head = shape.n_head, n_kv_head = shape.n_head_kv;
    const int64_t ratio = n_head / n_kv_head, n_kv = pos0 + n_tokens;
    const size_t q_elems = (size_t)(n_tokens * n_head * hd);
    const size_t per_head = (size_t)(n_tokens * n_kv);  // scores of one head
    // KV heads per group: all their query heads' scores (F32) and probabilities (F16) fit the scratch.
    const int64_t group = std::clamp<int64_t>((int64_t)(kScratchBytes / (per_head * 6 * ratio)), 1, n_kv_head);
    const size_t q_bytes = (q_elems * 2 + 255) / 256 * 256;
    const size_t s_elems = per_head * (size_t)(group * ratio);
    auto* base = static_cast<uint8_t*>(scratch().reserve(q_bytes + s_elems * 6));
    auto* qh = reinterpret_cast<__half*>(base);
    auto* sc = reinterpret_cast<float*>(base + q_bytes);
    auto* pr = reinterpret_cast<__half*>(base + q_bytes + s_elems * 4);

    to_half_kernel<<<(unsigned)((q_elems + 255) / 256), 256, 0, st>>>(q, q_elems, qh);
    check_last_launch("attention (q to F16)");

    cublasHandle_t h = cublas_handle();
    check_cublas(cublasSetStream(h, st), "cublasSetStream", "attention");
    const float one = 1.0f, zero = 0.0f;
    const int kv_ld = (int)(n_kv_head * hd), q_ld = (int)(n_head * hd);
    for (int64_t g0 = 0; g0 < n_kv_head; g0 += group) {
        const int64_t n_g = std::min(group, n_kv_head - g0);
        // Scores: for each j < ratio, one batched product over the group's KV heads g (head g*ratio+j).
        // Column-major: S^T (n_kv x n_tokens) = K_g (as d x n_kv, transposed) * Q_h (d x n_tokens).
        for (int64_t j = 0; j < ratio; ++j) {
            check_cublas(cublasGemmStridedBatchedEx(
                             h, CUBLAS_OP_T, CUBLAS_OP_N, (int)n_kv, (int)n_tokens, (int)hd, &one,
                             k_cache + g0 * hd, CUDA_R_16F, kv_ld, (long long)hd,
                             qh + (g0 * ratio + j) * hd, CUDA_R_16F, q_ld, (long long)(ratio * hd), &zero,
                             sc + (size_t)j * per_head, CUDA_R_32F, (int)n_kv, (long long)(ratio * per_head),
                             (int)n_g, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "cublasGemmStridedBatchedEx (scores)", "attention");
        }
        causal_softmax(sc, pr, n_g * ratio * n_tokens, n_tokens, n_kv, pos0, scale, st);
        // Output: O^T (d x n_tokens, ld n_head*d) = V_g (d x n_kv) * P_h^T (n_kv x n_tokens).
        for (int64_t j = 0; j < ratio; ++j) {
            check_cublas(cublasGemmStridedBatchedEx(
                             h, CUBLAS_OP_N, CUBLAS_OP_N, (int)hd, (int)n_tokens, (int)n_kv, &one,
                             v_cache + g0 * hd, CUDA_R_16F, kv_ld, (long long)hd,
                             pr + (size_t)j * per_head, CUDA_R_16F, (int)n_kv, (long long)(ratio * per_head), &zero,
                             out + (g0 * ratio + j) * hd, CUDA_R_32F, q_ld, (long long)(ratio * hd),
                             (int)n_g, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "cublasGemmStridedBatchedEx (values)", "attention");
        }
    }
}

}  // namespace shootout::cuda
