// RMSNorm, RoPE, SwiGLU, add and bias on the device, one thread per element or one block per row.
// Memory-bound and small next to the matrix products; each reads its inputs once.
// Launched with PDL (pdl.cuh): each kernel lets the next one be scheduled, then waits for the previous
// one before touching memory; nothing is read before the wait. Activations carry no __restrict__ (they
// are written by the kernels before; pdl.cuh rule 4); weights and bias vectors, never written, may.
#include <cmath>

#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/pdl.cuh"

namespace shootout::cuda {
namespace {

__global__ void rms_norm_kernel(const float* x, const float* __restrict__ w, int64_t n, float eps, float* y) {
    pdl_launch_dependents();
    pdl_wait();
    const float* xr = x + blockIdx.x * n;
    float* yr = y + blockIdx.x * n;
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += xr[i] * xr[i];
    __shared__ float partial[32];
    sum = block_reduce(sum, partial);
    const float scale = 1.0f / sqrtf(sum / (float)n + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) yr[i] = (xr[i] * scale) * w[i];
}

// One thread per rotated pair.
__global__ void rope_kernel(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
                            const int64_t* __restrict__ pos0_device, int64_t half, float theta_scale, bool neox,
                            const float* __restrict__ freq_factors) {
    pdl_launch_dependents();
    pdl_wait();
    const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= n_tokens * n_heads * half) return;
    if (pos0_device) pos0 = *pos0_device;  // a replayed decode graph: the step's position
    const int64_t i = idx % half, head = idx / half, t = head / n_heads;
    float theta = (float)(pos0 + t);
    for (int64_t j = 0; j < i; ++j) theta *= theta_scale;  // the CPU's repeated product, bit for bit
    const float angle = freq_factors ? theta / freq_factors[i] : theta;  // Llama 3.1's, as the CPU
    float sin_theta, cos_theta;
    sincosf(angle, &sin_theta, &cos_theta);
    float* v = x + head * head_dim;
    const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * cos_theta - x1 * sin_theta;
    v[b] = x0 * sin_theta + x1 * cos_theta;
}

__global__ void swiglu_kernel(const float* gate, const float* up, size_t n, float* out) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
}

__global__ void add_kernel(float* x, const float* y, size_t n) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += y[i];
}

__global__ void add_bias_kernel(float* x, const float* bias, size_t n_total, int64_t n) {
    pdl_launch_dependents();
    pdl_wait();
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n_total) x[i] += bias[i % n];
}

}  // namespace

void rms_norm(const float* x, const float* weight, int64_t n_rows, int64_t n, float eps, float* y,
              StreamHandle stream) {
    if (n_rows <= 0) return;
    const LaunchShape shape{dim3((unsigned)n_rows), dim3(norm_block_threads(n)), 0, static_cast<cudaStream_t>(stream)};
    launch_kernel(shape, true, rms_norm_kernel, x, weight, n, eps, y);
    check_last_launch("rms_norm");
}

void rope(float* x, int64_t n_tokens, int64_t n_heads, int64_t head_dim, int64_t pos0,
          const backend::RopeParams& params, StreamHandle stream, const int64_t* pos0_device) {
    const int64_t n_rot = params.n_rot;
    if (n_rot <= 0 || n_rot > head_dim || n_rot % 2 != 0)
        fail("rope", "rotated dims " + std::to_string(n_rot) + " invalid for head size " + std::to_string(head_dim));
    const float theta_scale = std::pow(params.freq_base, -2.0f / (float)n_rot);  // the CPU's host powf
    const int64_t half = n_rot / 2;
    const size_t n = (size_t)(n_tokens * n_heads * half);
    if (n == 0) return;
    launch_kernel(elementwise_shape(n, stream), true, rope_kernel, x, n_tokens, n_heads, head_dim, pos0, pos0_device, half,
                  theta_scale, params.style == backend::RopeStyle::Neox, params.freq_factors);
    check_last_launch("rope");
}

void swiglu(const float* gate, const float* up, size_t n, float* out, StreamHandle stream) {
    if (n == 0) return;
    launch_kernel(elementwise_shape(n, stream), true, swiglu_kernel, gate, up, n, out);
    check_last_launch("swiglu");
}

void add(float* x, const float* y, size_t n, StreamHandle stream) {
    if (n == 0) return;
    launch_kernel(elementwise_shape(n, stream), true, add_kernel, x, y, n);
    check_last_launch("add");
}

void add_bias(float* x, const float* bias, int64_t n_rows, int64_t n, StreamHandle stream) {
    const size_t total = (size_t)(n_rows * n);
    if (total == 0) return;
    launch_kernel(elementwise_shape(total, stream), true, add_bias_kernel, x, bias, total, n);
    check_last_launch("add_bias");
}

}  // namespace shootout::cuda
