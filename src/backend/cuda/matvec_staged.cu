// The switch of the staged one-token products (matvec_staged.cuh) and what they ask of the build.
#include <atomic>

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/matvec_staged.cuh"
#include "util/env.h"

namespace shootout::cuda {
namespace {
std::atomic<int> staged_state{-1};  // -1: not read from the environment yet
std::atomic<uint64_t> staged_calls{0};
}  // namespace

bool staged_products() {
    int state = staged_state.load(std::memory_order_relaxed);
    if (state < 0) {
        int expected = -1;
        staged_state.compare_exchange_strong(expected, env_switched_off("SHOOTOUT_CUDA_STAGED") ? 0 : 1);
        state = staged_state.load(std::memory_order_relaxed);
    }
    return state == 1;
}

void set_staged_products(bool on) { staged_state.store(on ? 1 : 0, std::memory_order_relaxed); }

uint64_t matvec_staged_calls() { return staged_calls.load(); }
void count_staged_call() { staged_calls.fetch_add(1); }

bool staged_kernel_built(const void* kernel) {
    cudaFuncAttributes attributes{};
    SHOOTOUT_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    // The PTX the kernel was made from: below 9.0 its body is the __trap() of an older device.
    return attributes.ptxVersion >= 90 && attributes.binaryVersion >= 90;
}

}  // namespace shootout::cuda
