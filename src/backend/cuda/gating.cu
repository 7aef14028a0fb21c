// The row ops of the gated architectures on the device (qwen3next): column slices of joint
// projections, sigmoid gates, and the L2 normalisation of Gated DeltaNet's queries and keys. Numerics
// as the CPU's gating.cpp: sigmoid as 1 / (1 + exp(-x)) in float.
// Launched with PDL (pdl.cuh): each kernel lets the next one be scheduled, then waits before touching
// memory; everything they read is written by earlier kernels, so no __restrict__ (rule 4).
#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/moe_deltanet_kernels.h"
#include "backend/cuda/pdl.cuh"

namespace shootout::cuda {
namespace {

__global__ void copy_columns_kernel(const float* src, int64_t src_stride, int64_t col0, int64_t n_cols, size_t total,
                                    float* dst) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t r = idx / (size_t)n_cols, c = idx % (size_t)n_cols;
    dst[idx] = src[r * (size_t)src_stride + (size_t)col0 + c];
}

__global__ void sigmoid_gate_kernel(float* x, const float* gate, int64_t n_cols, int64_t gate_cols, size_t total) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t r = idx / (size_t)n_cols, c = idx % (size_t)n_cols;
    const float g = gate[r * (size_t)gate_cols + (gate_cols == 1 ? 0 : c)];
    x[idx] *= 1.0f / (1.0f + expf(-g));
}

// One block per row: the sum of squares reduced across the block, then the row scaled.
__global__ void l2_norm_kernel(float* x, int64_t n_cols, float eps) {
    pdl_launch_dependents();
    pdl_wait();
    float* xr = x + (size_t)blockIdx.x * (size_t)n_cols;
    float sum = 0.f;
    for (int64_t c = threadIdx.x; c < n_cols; c += blockDim.x) sum += xr[c] * xr[c];
    __shared__ float partial[32];
    sum = block_reduce(sum, partial);
    const float scale = 1.0f / fmaxf(sqrtf(sum), eps);
    for (int64_t c = threadIdx.x; c < n_cols; c += blockDim.x) xr[c] *= scale;
}

}  // namespace

void copy_columns(const float* src, int64_t n_rows, int64_t src_stride, int64_t col0, int64_t n_cols, float* dst,
                  StreamHandle stream) {
    if (col0 < 0 || n_cols < 0 || col0 + n_cols > src_stride)
        fail("copy_columns", "columns [" + std::to_string(col0) + ", " + std::to_string(col0 + n_cols) +
                                 ") outside rows of " + std::to_string(src_stride));
    const size_t total = (size_t)(n_rows * n_cols);
    if (total == 0) return;
    launch_kernel(elementwise_shape(total, stream), true, copy_columns_kernel, src, src_stride, col0, n_cols, total, dst);
    check_last_launch("copy_columns");
}

void sigmoid_gate(float* x, const float* gate, int64_t n_rows, int64_t n_cols, int64_t gate_cols,
                  StreamHandle stream) {
    if (gate_cols != 1 && gate_cols != n_cols)
        fail("sigmoid_gate", "gate has " + std::to_string(gate_cols) + " columns, expected 1 or " + std::to_string(n_cols));
    const size_t total = (size_t)(n_rows * n_cols);
    if (total == 0) return;
    launch_kernel(elementwise_shape(total, stream), true, sigmoid_gate_kernel, x, gate, n_cols, gate_cols, total);
    check_last_launch("sigmoid_gate");
}

void l2_norm(float* x, int64_t n_rows, int64_t n_cols, float eps, StreamHandle stream) {
    if (n_rows <= 0 || n_cols <= 0) return;
    const int threads = n_cols >= 256 ? 256 : n_cols >= 128 ? 128 : 64;
    const LaunchShape shape{dim3((unsigned)n_rows), dim3(threads), 0, static_cast<cudaStream_t>(stream)};
    launch_kernel(shape, true, l2_norm_kernel, x, n_cols, eps);
    check_last_launch("l2_norm");
}

}  // namespace shootout::cuda
