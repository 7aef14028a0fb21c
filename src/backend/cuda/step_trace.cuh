// The device side of step_trace.h: StepTrace t = step_trace_enter(kind) at a kernel's entry,
// step_trace_waited(t) after its pdl_wait(); the exit is recorded by t's destructor, whichever
// return the warp takes. Nothing at all unless -DSHOOTOUT_CUDA_STEP_TRACE=ON.
#pragma once

#include "backend/cuda/step_trace.h"

#if defined(SHOOTOUT_CUDA_STEP_TRACE)
#include <cuda_runtime.h>

namespace shootout::cuda {
// Internal to each translation unit (device variables do not link across units without relocatable
// device code): the unit's pointers to the shared ring, bound at start-up through the registry.
namespace {
__device__ StepRecord* g_step_records;
__device__ unsigned long long* g_step_count;
void step_trace_bind(StepRecord* records, unsigned long long* count) {
    cudaMemcpyToSymbol(g_step_records, &records, sizeof records);
    cudaMemcpyToSymbol(g_step_count, &count, sizeof count);
}
[[maybe_unused]] const bool g_step_trace_registered = step_trace_register(step_trace_bind);
}  // namespace

__device__ __forceinline__ uint64_t global_ns() {
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
}

struct StepTrace {
    StepRecord* rec;
    __device__ ~StepTrace() {
        if (rec) rec->t_exit = global_ns();
    }
};
__device__ __forceinline__ StepTrace step_trace_enter(uint32_t kind) {
    StepRecord* ring = g_step_records;
    if (ring == nullptr || threadIdx.x % 32 != 0) return {nullptr};
    unsigned sm;
    asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
    const unsigned ring_i = sm % kStepTraceSms;
    const unsigned long long i = atomicAdd(g_step_count + ring_i, 1ull) % kStepTraceRing;
    StepRecord* r = ring + ring_i * kStepTraceRing + i;
    uint64_t grid;
    asm volatile("mov.u64 %0, %%gridid;" : "=l"(grid));
    r->kind = kind;
    r->sm = sm;
    r->grid = grid;
    r->t_enter = global_ns();
    r->t_waited = 0;
    r->t_exit = 0;
    return {r};
}
__device__ __forceinline__ void step_trace_waited(const StepTrace& t) {
    if (t.rec) t.rec->t_waited = global_ns();
}
}  // namespace shootout::cuda
#else
namespace shootout::cuda {
struct StepTrace {};
__device__ __forceinline__ StepTrace step_trace_enter(uint32_t) { return {}; }
__device__ __forceinline__ void step_trace_waited(const StepTrace&) {}
}  // namespace shootout::cuda
#endif
