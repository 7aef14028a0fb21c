// The layer-stream probe's synchronization on Hopper (bench_cuda_layer_stream.cu): mbarriers, bulk
// and cp.async copies into shared memory, acquire / release counters for grid barriers, and a
// watchdog that records a wait of over a second (so a deadlocked probe names its wait instead of
// hanging the device call). The PTX needs sm_90; below it only the plain helpers exist.
#pragma once

#include <cuda_runtime.h>

namespace shootout::bench_cuda {

// A wait that lasts over a second is recorded (the first one, in page-locked host memory the host reads
// while the kernel still runs), so a deadlock of the probe names its wait instead of hanging the call.
struct HangRecord {
    unsigned seen, where, block, warp, chunk, parity, seq;
};

__device__ unsigned g_hang_claimed;

__device__ __forceinline__ unsigned smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
__device__ __forceinline__ void mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_arrive(unsigned long long* bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ unsigned long long global_ns() {
    unsigned long long t;
    asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
    return t;
}
// Called every 4096 polls of a wait that began at t0.
__device__ __noinline__ void watch(unsigned long long t0, HangRecord* rec, unsigned where, unsigned chunk,
                                   unsigned parity, unsigned seq) {
    if (global_ns() - t0 < 1000000000ull || atomicCAS(&g_hang_claimed, 0u, 1u) != 0u) return;
    volatile HangRecord* r = rec;
    r->where = where;
    r->block = blockIdx.x;
    r->warp = threadIdx.x / 32;
    r->chunk = chunk;
    r->parity = parity;
    r->seq = seq;
    __threadfence_system();
    r->seen = 1;
    __threadfence_system();
}
__device__ __forceinline__ void mbar_wait(unsigned long long* bar, unsigned parity, HangRecord* rec, unsigned where,
                                          unsigned chunk) {
    unsigned done = 0;
    const unsigned long long t0 = global_ns();
    for (unsigned n = 1; !done; ++n) {
        if ((n & 4095) == 0) watch(t0, rec, where, chunk, parity, 0);
        asm volatile(
            "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
            : "=r"(done)
            : "r"(smem_addr(bar)), "r"(parity)
            : "memory");
    }
}
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, unsigned bytes, unsigned long long* bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                     smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(bar))
                 : "memory");
}
__device__ __forceinline__ void copy16_async(void* dst, const void* src) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(smem_addr(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void mbar_arrive_async(unsigned long long* bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ unsigned load_acquire(const unsigned* p) {
    unsigned v;
    asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
    return v;
}
__device__ __forceinline__ void add_release(unsigned* p, unsigned v) {
    asm volatile("red.release.gpu.global.add.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ __forceinline__ void wait_counter(const unsigned* counter, unsigned target, HangRecord* rec, unsigned where,
                                             unsigned seq) {
    const unsigned long long t0 = global_ns();
    for (unsigned n = 1; load_acquire(counter) < target; ++n)
        if ((n & 4095) == 0) watch(t0, rec, where, target, 0, seq);
}
#endif

}  // namespace shootout::bench_cuda
