// Asynchronous global -> shared copies (sm_80+; plain copies before), for the kernels that stage
// tiles in shared memory (delta_net.cu, attention_flash.cu). The data is visible to the copying
// thread after copy_wait_all, to the block after a barrier that follows it.
#pragma once

#include <cuda_runtime.h>

namespace shootout::cuda {

// 16 bytes; both addresses 16-byte aligned.
__device__ __forceinline__ void copy16(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((unsigned)__cvta_generic_to_shared(smem)),
                 "l"(gmem)
                 : "memory");
#else
    *reinterpret_cast<float4*>(smem) = *reinterpret_cast<const float4*>(gmem);
#endif
}
__device__ __forceinline__ void copy4(float* smem, const float* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"((unsigned)__cvta_generic_to_shared(smem)),
                 "l"(gmem)
                 : "memory");
#else
    *smem = *gmem;
#endif
}
// Closes the group of copies issued since the last commit; copy_wait_groups<N> waits until at most
// the N most recent groups are still in flight (double buffering: issue tile i + 1, wait for tile i).
__device__ __forceinline__ void copy_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}
template <int N>
__device__ __forceinline__ void copy_wait_groups() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}
__device__ __forceinline__ void copy_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm volatile("cp.async.wait_all;\n" ::: "memory");
#endif
}

}  // namespace shootout::cuda
