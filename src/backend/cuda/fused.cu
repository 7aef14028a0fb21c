// The fused ops of backend/ops.h (add_rms_norm, qk_norm_rope) as single kernels. A decode step of an
// 8B model is ~25 launches a layer and the small ones cost ~2 us each however little they do, so
// every launch saved is ~0.07 ms a token (36 layers). Each kernel computes what the plain ops compute,
// operation for operation (pointwise.cu), only without the round trips through memory in between.
// Launched with PDL as the plain ops (pointwise.cu, pdl.cuh): trigger, then wait, then everything.
#include <cmath>
#include <string>

#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/ops_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "backend/cuda/qk_norm_rope.cuh"

namespace shootout::cuda {
namespace {

// One block per row: x += y, then out = x * (1 / sqrt(mean(x^2) + eps)) * w. Each thread writes out
// only at the indices it read y from, so out may alias y.
__global__ void add_rms_norm_kernel(float* x, const float* y, const float* __restrict__ w, int64_t n, float eps,
                                    float* out) {
    pdl_launch_dependents();
    pdl_wait();
    float* xr = x + blockIdx.x * n;
    const float* yr = y + blockIdx.x * n;
    float* orow = out + blockIdx.x * n;
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = xr[i] + yr[i];
        xr[i] = v;
        sum += v * v;
    }
    __shared__ float partial[32];
    sum = block_reduce(sum, partial);
    const float scale = 1.0f / sqrtf(sum / (float)n + eps);
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) orow[i] = (xr[i] * scale) * w[i];
}

// One warp per head row (all q rows, then all k rows): norm_rope_row (qk_norm_rope.cuh) in the
// warp's shared row, then the row written back.
template <int HD>
__global__ void qk_norm_rope_kernel(float* q, float* k, NormRope p, int64_t q_rows, int64_t k_rows, int64_t n_head,
                                    int64_t n_head_kv, int64_t pos0, const int64_t* __restrict__ pos0_device) {
    pdl_launch_dependents();
    pdl_wait();
    constexpr int kWarps = 4;
    __shared__ float row_s[kWarps][HD];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int64_t r = (int64_t)blockIdx.x * kWarps + warp;
    if (r >= q_rows + k_rows) return;
    if (pos0_device) pos0 = *pos0_device;
    const bool is_q = r < q_rows;
    float* v = is_q ? q + r * HD : k + (r - q_rows) * HD;
    const int64_t t = is_q ? r / n_head : (r - q_rows) / n_head_kv;
    norm_rope_row<HD>(v, is_q ? p.q_norm : p.k_norm, p, pos0 + t, row_s[warp]);
    for (int d = lane; d < HD; d += 32) v[d] = row_s[warp][d];
}

}  // namespace

void add_rms_norm(float* x, const float* y, const float* weight, int64_t n_rows, int64_t n, float eps, float* out,
                  StreamHandle stream) {
    if (n_rows <= 0) return;
    const LaunchShape shape{dim3((unsigned)n_rows), dim3(norm_block_threads(n)), 0, static_cast<cudaStream_t>(stream)};
    launch_kernel(shape, true, add_rms_norm_kernel, x, y, weight, n, eps, out);
    check_last_launch("add_rms_norm");
}

NormRope norm_rope_args(const float* q_norm, const float* k_norm, float eps, const backend::RopeParams& params,
                        int64_t head_dim) {
    const int64_t n_rot = params.n_rot;
    if (n_rot <= 0 || n_rot > head_dim || n_rot % 2 != 0)
        fail("rope", "rotated dims " + std::to_string(n_rot) + " invalid for head size " + std::to_string(head_dim));
    NormRope p;
    p.q_norm = q_norm;
    p.k_norm = k_norm;
    p.eps = eps;
    p.n_rot = (int)n_rot;
    p.theta_scale = std::pow(params.freq_base, -2.0f / (float)n_rot);  // as rope() (pointwise.cu)
    p.neox = params.style == backend::RopeStyle::Neox;
    p.freq_factors = params.freq_factors;
    return p;
}

void qk_norm_rope(float* q, float* k, const float* q_norm, const float* k_norm, int64_t n_tokens,
                  const backend::AttentionShape& shape, float eps, int64_t pos0, const backend::RopeParams& params,
                  StreamHandle stream, const int64_t* pos0_device) {
    const int64_t hd = shape.head_dim;
    const NormRope p = norm_rope_args(q_norm, k_norm, eps, params, hd);
    const int64_t q_rows = n_tokens * shape.n_head, k_rows = n_tokens * shape.n_head_kv;
    if (q_rows + k_rows == 0) return;
    const unsigned grid = (unsigned)((q_rows + k_rows + 3) / 4);
    cudaStream_t s = static_cast<cudaStream_t>(stream);
#define SHOOTOUT_QK_LAUNCH(HD)                                                                                \
    launch_kernel({dim3(grid), dim3(128), 0, s}, true, qk_norm_rope_kernel<HD>, q, k, p, q_rows, k_rows, shape.n_head, \
                  shape.n_head_kv, pos0, pos0_device)
    switch (hd) {
        case 64: SHOOTOUT_QK_LAUNCH(64); break;
        case 128: SHOOTOUT_QK_LAUNCH(128); break;
        case 256: SHOOTOUT_QK_LAUNCH(256); break;
        default: fail("qk_norm_rope", "head_dim " + std::to_string(hd) + " (the fused kernel takes 64, 128, 256)");
    }
#undef SHOOTOUT_QK_LAUNCH
    check_last_launch("qk_norm_rope");
}

}  // namespace shootout::cuda
