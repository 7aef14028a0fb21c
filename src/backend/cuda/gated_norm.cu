// The Gated DeltaNet's output norm in one kernel (activation_quant.h, gated_rms_norm_quantize):
// out = rms_norm(x) * w * silu(gate) per row (value head) of n, and out converted for the output
// product. A decode step of Qwen3-Next ran it as rms_norm_kernel then swiglu_quantize_kernel, two
// launches of ~3.5 us for 4096 elements, in each of its 36 Gated DeltaNet layers.
//
// A warp takes 256 consecutive elements, 8 a lane (16-byte loads), so it holds whole rows when n
// divides 256 (n a power of two from 8 to 256: the row's n / 8 lanes reduce its sum of squares by
// shuffles, no shared memory, no barrier), and whole conversion blocks (one 256 block, or 8 blocks
// of 32 on 4 lanes each), as norm_quantize_kernel's threads do. The sum of squares is added in
// another order than rms_norm_kernel's, so out may differ from the two launches' in the last bits.
#include <string>

#include "backend/cuda/activation_quant.cuh"
#include "backend/cuda/activation_quant.h"
#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/pdl.cuh"
#include "util/error.h"

namespace shootout::cuda {
namespace {

constexpr int kThreads = 256;

template <ActivationType A>
__global__ void __launch_bounds__(kThreads) gated_norm_kernel(const float* x, const float* __restrict__ w,
                                                              const float* gate, int64_t n_warps, int n, float eps,
                                                              float* out, int8_t* __restrict__ qs,
                                                              float2* __restrict__ ds) {
    pdl_launch_dependents();
    const int lane = threadIdx.x % 32;
    const int64_t warp = ((int64_t)blockIdx.x * kThreads + threadIdx.x) / 32;
    const int64_t e0 = warp * 256 + 8 * lane;
    float wv[8];
    act::load8(w + e0 % n, wv);  // weights: no kernel writes them, so before the wait
    pdl_wait();
    if (warp >= n_warps) return;  // whole warps
    float v[8], z[8];
    act::load8(x + e0, v);
    act::load8(gate + e0, z);
    float sum = 0.f;
#pragma unroll
    for (int i = 0; i < 8; ++i) sum += v[i] * v[i];
    for (int off = n / 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);  // the row's lanes
    const float scale = 1.0f / sqrtf(sum / (float)n + eps);
    float o[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) {
        const float u = (v[i] * scale) * wv[i];    // as rms_norm_kernel
        o[i] = z[i] / (1.0f + expf(-z[i])) * u;  // as swiglu_kernel, gate z
    }
    act::store8(out + e0, o);  // out may be x: each lane read its own elements above
    if constexpr (A == ActivationType::Q8_K) {
        act::store_q8_k(o, qs + warp * 256, ds + warp * 8);
    } else if constexpr (A == ActivationType::Q8_0 || A == ActivationType::Q8_1) {
        act::store_q8_32_by_4<A>(o, qs + e0 / 32 * 32, ds + e0 / 32, true);
    }
}

}  // namespace

bool gated_rms_norm_fits(int64_t n_rows, int64_t n) {
    return n >= 8 && n <= 256 && (n & (n - 1)) == 0 && (n_rows * n) % 256 == 0;
}

void gated_rms_norm_quantize(const float* x, const float* w, const float* gate, int64_t n_rows, int64_t n, float eps,
                             float* out, ActivationType type, int8_t* qs, float2* ds, cudaStream_t stream) {
    if (!gated_rms_norm_fits(n_rows, n))
        fail("gated_rms_norm", std::to_string(n_rows) + " rows of " + std::to_string(n) +
                                   ": rows must be a power of two of 8..256 elements, the whole a multiple of 256");
    const int64_t n_warps = n_rows * n / 256;
    const LaunchShape shape{dim3((unsigned)((n_warps * 32 + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream};
    auto go = [&]<ActivationType A>() {
        launch_kernel(shape, true, gated_norm_kernel<A>, x, w, gate, n_warps, (int)n, eps, out, qs, ds);
    };
    if (type == ActivationType::F32) go.template operator()<ActivationType::F32>();
    else if (!by_q8_activation(type, go)) fail("gated_rms_norm", "the conversion must be F32 (none) or a Q8 type");
    check_last_launch("gated_rms_norm");
}

}  // namespace shootout::cuda
