// Decode products y = W x for 1..kMaxMatvecTokens tokens. Memory-bound: every weight byte is read
// once, by one warp per output row walking the row in coalesced units; the activations (a few KB)
// stay in L1/L2. Quantized weights use int8 dp4a against activations quantized once per call to
// 8-bit blocks of 32 (the 4-bit unpack plus a float FMA per weight would cost more issue slots than
// the bandwidth leaves); F16/BF16 weights are dotted with the F32 activations directly.
#include <string>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matvec_kernels.cuh"

namespace shootout::cuda {
namespace {

// One warp per block of 32 activations: d = max|x| / 127, q = round-half-even(x / d), s = d * sum(q).
__global__ void quantize_q8_1_kernel(const float* __restrict__ x, int64_t n_blocks, int8_t* __restrict__ qs,
                                     float2* __restrict__ ds) {
    const int lane = threadIdx.x % 32;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
    if (warp >= n_blocks) return;
    const float v = x[warp * 32 + lane];
    float amax = fabsf(v);
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, off));
    const float d = amax / 127.f;
    const int q = amax == 0.f ? 0 : __float2int_rn(v / d);
    int sum = q;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    qs[warp * 32 + lane] = (int8_t)q;
    if (lane == 0) ds[warp] = make_float2(d, d * (float)sum);
}

}  // namespace

void quantize_activations_q8_1(const float* x, int64_t n_blocks, int8_t* qs, float2* ds, cudaStream_t stream) {
    quantize_q8_1_kernel<<<(unsigned)((n_blocks + 7) / 8), 256, 0, stream>>>(x, n_blocks, qs, ds);
}


void matvec(const DeviceWeight& w, const float* x, int64_t n_tokens, float* y, Workspace& workspace,
            StreamHandle stream, bool x_quantized) {
    if (n_tokens < 1 || n_tokens > kMaxMatvecTokens)
        fail(w.name, "matvec takes 1.." + std::to_string(kMaxMatvecTokens) + " tokens, got " + std::to_string(n_tokens));
    // int8 activations then their (d, s) pairs
    void* scratch = workspace.reserve((size_t)n_tokens * w.n_in + (size_t)n_tokens * (w.n_in / 32) * sizeof(float2));
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    const bool known =
        dispatch_type(w.type, [&]<TypeId T>() { launch_matvec<T>(w, x, n_tokens, y, scratch, x_quantized, s); });
    if (!known) fail(w.name, std::string("no CUDA matvec for type ") + quant::traits(w.type).name);
    check_last_launch(("matvec " + w.name).c_str());
}

}  // namespace shootout::cuda
