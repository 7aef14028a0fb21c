// Butterfly reductions over a warp's 32 lanes (every lane gets the result), shared by the attention
// kernels (attention.cu, attention_decode.cu): the same shuffle order everywhere, so the same bits.
#pragma once

namespace shootout::cuda {

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

__device__ __forceinline__ float warp_add(float v) {
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

}  // namespace shootout::cuda
