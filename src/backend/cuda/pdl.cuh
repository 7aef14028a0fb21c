// Programmatic Dependent Launch (PDL, compute capability 9.0+) for the decode step's kernels.
//
// Why: a decode token of an 8B model is ~16 small kernels a layer, replayed as a CUDA graph
// (step_graph.h). Without PDL each kernel's blocks are scheduled only once the previous kernel has
// drained completely, so every launch pays the tail of the one before and its own ramp-up. A kernel
// launched with the attribute cudaLaunchAttributeProgrammaticStreamSerialization may start as soon
// as every block of the previous kernel has called pdl_launch_dependents() (or exited); its blocks
// then run what depends on nothing earlier (the matvec's first weight loads) and wait in pdl_wait()
// for the previous kernel to complete and its writes to be visible.
//
// The rules every kernel launched through launch_kernel(..., overlap = true, ...) follows:
//  1. pdl_launch_dependents() first (it only lets the next kernel's blocks be scheduled; they still
//     wait for this kernel to complete before touching anything it writes).
//  2. pdl_wait() before the first read of memory any earlier kernel writes and before the first
//     global write (a write could race with a read of the previous kernel), on every path of every
//     thread that does either. Threads that exit early without touching memory need not wait.
//  3. Before the wait, only reads of memory no kernel ever writes: uploaded weights and norm/bias
//     vectors (DeviceWeight::immutable), the positions buffer (written by a copy before the graph).
//  4. Memory that earlier kernels write is read with ordinary (coherent) loads: no __ldg and no
//     `const T* __restrict__` parameter pointing at it. A non-coherent load (ld.global.nc, which the
//     compiler also emits for const __restrict__ pointers and may move above the wait) is defined
//     only for memory that stays read-only for the whole life of the grid, and with PDL the grid
//     starts while earlier kernels are still writing (llama.cpp PR 24030 removed __restrict__ from
//     its PDL kernels for exactly this race; CCCL's review rule correctness.pdl-restrict-aliasing).
//
// Why waiting keeps full stream order: pdl_wait() returns only when the previous kernel has
// completed, and that kernel completed only after its own wait saw the one before it complete, and
// so on; so when kernel N passes its wait, every earlier kernel of the stream has completed and its
// writes are visible, exactly as without PDL. (A kernel whose every block exited without waiting
// would break the chain; no kernel here does: each block that does work waits, and a grid has such
// a block.) A kernel launched without the attribute (cuBLAS, the prompts' own kernels: GEMMs,
// moe_gemm, moe_mmq, flash attention; a product over weights not DeviceWeight::immutable; copies)
// starts after the previous one completes, as always; a pdl_wait() in a kernel launched without the
// attribute returns at once. Under stream capture (CUDA 12.3+) the attribute becomes a programmatic
// edge between the two kernel nodes, so replayed graphs overlap the same way.
//
// Work hoisted above the wait (rule 3), by kernel:
//   matvec_q8_kernel (matvec_kernels.cuh): the first kInFlight units' weight loads of each lane;
//   matvec_float_kernel: an L2 prefetch of the first 2 KB of the warp's weight row.
// Both only for weights with DeviceWeight::immutable set (every upload_weight matrix); a matrix that a
// kernel fills would have its product launched without PDL.
#pragma once

#include <cuda_runtime.h>

#include <utility>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/pdl.h"

namespace shootout::cuda {

// Waits until the previous kernel of the stream has completed and its writes are visible (returns at
// once when this launch has no programmatic dependency). Compiled only for sm_90+: the instruction
// does not exist before, and there PDL is never used.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Lets the next kernel of the stream (if launched with PDL) be scheduled once every block of this one
// has called this or exited. Says nothing about this block's writes: the next kernel's pdl_wait() still
// waits for this whole grid to complete.
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

struct LaunchShape {
    dim3 grid, block;
    size_t shared_bytes = 0;
    cudaStream_t stream = nullptr;
};

// One thread an element of n, in blocks of 256 (the elementwise kernels of pointwise.cu, gating.cu and
// moe.cu, which read blockDim); stream as the ops' StreamHandle.
inline LaunchShape elementwise_shape(size_t n, void* stream) {
    constexpr unsigned kThreads = 256;
    return {dim3((unsigned)((n + kThreads - 1) / kThreads)), dim3(kThreads), 0, static_cast<cudaStream_t>(stream)};
}

// Launches kernel<<<shape>>>(args...), with PDL when overlap is true, PDL is on (pdl.h) and the kernel
// was compiled with the griddepcontrol instructions; otherwise as a plain launch. Usable under stream
// capture. Launch errors are left for check_last_launch() (as with <<< >>>).
template <typename... KernelArgs, typename... Args>
void launch_kernel(const LaunchShape& shape, bool overlap, void (*kernel)(KernelArgs...), Args&&... args) {
    if (overlap && pdl_enabled() && kernel_supports_pdl(reinterpret_cast<const void*>(kernel))) {
        cudaLaunchAttribute attribute{};
        attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute.val.programmaticStreamSerializationAllowed = 1;
        cudaLaunchConfig_t config{};
        config.gridDim = shape.grid;
        config.blockDim = shape.block;
        config.dynamicSmemBytes = shape.shared_bytes;
        config.stream = shape.stream;
        config.attrs = &attribute;
        config.numAttrs = 1;
        // The error also stays the thread's last error, where the caller's check_last_launch finds it.
        (void)cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...);
        return;
    }
    kernel<<<shape.grid, shape.block, shape.shared_bytes, shape.stream>>>(std::forward<Args>(args)...);
}

}  // namespace shootout::cuda
