// L2 ahead (a trial, SHOOTOUT_CUDA_L2_AHEAD, cuda_ops.cpp): a decode step's kernels that read little
// from DRAM (the attention at a short context, ~8-10 us a layer; SwiGLU, ~3 us) ask the copy engine
// to bring the next product's weights into L2 meanwhile, so that product reads them from L2.
//
// Why this and not the prefetches tried before (bench/cuda/NOTES.md, sessions 4, 7, 10): those were
// issued by the product's own warps, a load instruction per line, for rows the resident warps were
// about to read anyway; they cost issue slots and evicted each other's rows. Here the DRAM would
// otherwise idle: an 8B Q8_0 layer's O weights (17.8 MB) take ~6 us at the 3 TB/s read rate, less
// than the attention before them; one cp.async.bulk.prefetch a 32 KB piece, from one thread of each
// block, costs the issuing kernel a few instructions. The bytes fit the H100's 50 MB L2 beside the
// little else a decode step keeps there.
#pragma once

#include <cstdint>

namespace shootout::cuda {

struct L2Ahead {
    const void* data = nullptr;  // 16-byte aligned (weights: cudaMalloc'd, rows a multiple of 16)
    uint32_t bytes = 0;          // a multiple of 16; 0: nothing
    bool before_wait = false;    // asked at the kernel's start, while the previous kernel still runs
};

#ifdef __CUDACC__
// Block b of the grid asks for the b-th slice of the range (thread 0, in pieces of 32 KB). Reads of
// weights only (DeviceWeight::immutable), so it may come before pdl_wait (pdl.cuh rule 3); a hint:
// the product reads the same bytes whether or not they arrived.
__device__ __forceinline__ void l2_ahead_slice(const L2Ahead& a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (a.bytes == 0 || threadIdx.x != 0) return;
    const uint32_t n_blocks = gridDim.x * gridDim.y * gridDim.z;
    const uint32_t block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const uint32_t slice = ((a.bytes + n_blocks - 1) / n_blocks + 15) / 16 * 16;
    const uint64_t begin = (uint64_t)block * slice;
    if (begin >= a.bytes) return;
    const uint64_t end = begin + slice < a.bytes ? begin + slice : a.bytes;
    const char* p = static_cast<const char*>(a.data);
    constexpr uint32_t kPiece = 32 * 1024;
    for (uint64_t at = begin; at < end; at += kPiece) {
        const uint32_t n = (uint32_t)(end - at < kPiece ? end - at : kPiece);
        asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p + at), "r"(n) : "memory");
    }
#endif
}
#endif

}  // namespace shootout::cuda
