// The block-wide reduction of the row kernels (RMSNorm, L2 norm, the fused norms, the causal softmax):
// every thread passes its partial value and gets the block's sum (or max) back. Warps reduce by
// shuffles; each warp's result goes through `shared` (32 floats of shared memory) and every thread
// adds them up in warp order. Safe to call again with the same `shared` (it synchronizes first);
// every thread of the block must call it (blockDim.x a multiple of 32).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

namespace shootout::cuda {

__device__ __forceinline__ float block_reduce(float v, float* shared, bool is_max = false) {
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) {
        const float o = __shfl_xor_sync(0xffffffffu, v, off);
        v = is_max ? fmaxf(v, o) : v + o;
    }
    __syncthreads();  // shared is reused between calls
    if (lane == 0) shared[warp] = v;
    __syncthreads();
    const int n_warps = blockDim.x / 32;
    v = is_max ? -INFINITY : 0.0f;
    for (int w = 0; w < n_warps; ++w) v = is_max ? fmaxf(v, shared[w]) : v + shared[w];
    return v;
}

// Threads per block of the row-norm kernels (rms_norm, add_rms_norm and their quantizing forms): the
// same count for the same row length, so the plain and the fused kernels reduce in the same order and
// give the same bits.
inline int norm_block_threads(int64_t n) { return n >= 1024 ? 1024 : n >= 256 ? 256 : 64; }

}  // namespace shootout::cuda
