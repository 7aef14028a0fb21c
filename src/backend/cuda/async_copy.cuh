// Asynchronous global -> shared copies (sm_80+; plain copies before), for the kernels that stage
// tiles in shared memory (delta_net.cu, attention_flash.cu). The data is visible to the copying
// thread after copy_wait_all, to the block after a barrier that follows it.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

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

// ---- Bulk copies (sm_90: the TMA unit's one-instruction copy of a contiguous byte range) ----------
// One thread starts the copy of `bytes` (a multiple of 16; both addresses 16-byte aligned) from global
// into shared memory; it signals the mbarrier (shared memory, 8 bytes) when the bytes have landed, and
// the threads that read them wait on the barrier's phase. No registers hold the bytes in flight, so a
// warp can have kilobytes of weights on their way while it computes (matvec_staged.cuh). Before sm_90
// these do nothing: callers check bulk_copy_available() on the host first.
__device__ __forceinline__ uint32_t shared_address(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void barrier_init(uint64_t* bar, uint32_t arrivals) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(arrivals) : "memory");
    // Makes the initialised barrier visible to the copy engine (the async proxy).
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}
// The barrier's one arrival for this phase, announcing `bytes` to come, and the copy that brings them.
__device__ __forceinline__ void bulk_copy(void* smem, const void* gmem, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
                 : "memory");
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     shared_address(smem)),
                 "l"(gmem), "r"(bytes), "r"(shared_address(bar))
                 : "memory");
#endif
}
// Orders this thread's earlier shared-memory reads (after a __syncwarp, the warp's) before a bulk copy
// it starts next into the same bytes.
__device__ __forceinline__ void bulk_copy_reuse_fence() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
#endif
}
// Waits until the barrier has completed the phase of the given parity (0 for its first phase, then
// alternating).
__device__ __forceinline__ void barrier_wait(uint64_t* bar, uint32_t parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile(
        "{\n"
        ".reg .pred done;\n"
        "wait:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra wait;\n"
        "}\n" ::"r"(shared_address(bar)),
        "r"(parity)
        : "memory");
#endif
}

}  // namespace shootout::cuda
