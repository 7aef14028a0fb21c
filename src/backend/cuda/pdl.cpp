// See pdl.h.
#include "backend/cuda/pdl.h"

#include <cuda_runtime.h>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "backend/cuda/cuda_check.cuh"
#include "util/env.h"

namespace shootout::cuda {
namespace {

// -1: not asked yet (read SHOOTOUT_CUDA_PDL at the first call), 0: off, 1: on.
std::atomic<int> requested{-1};

bool env_requests_pdl() {
    return !env_switched_off("SHOOTOUT_CUDA_PDL");
}

bool device_has_pdl() {
    static const bool has = [] {
        int device = 0, major = 0;
        if (cudaGetDevice(&device) != cudaSuccess ||
            cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
            (void)cudaGetLastError();  // no device: no PDL, not an error here
            return false;
        }
        return major >= 9;
    }();
    return has;
}

}  // namespace

bool pdl_enabled() {
    int r = requested.load(std::memory_order_relaxed);
    if (r < 0) {
        int expected = -1;
        requested.compare_exchange_strong(expected, env_requests_pdl() ? 1 : 0);
        r = requested.load(std::memory_order_relaxed);
    }
    return r == 1 && device_has_pdl();
}

void set_pdl_enabled(bool enabled) { requested.store(enabled ? 1 : 0, std::memory_order_relaxed); }

bool kernel_supports_pdl(const void* kernel) {
    static std::mutex mutex;
    static std::unordered_map<const void*, bool> known;
    std::lock_guard<std::mutex> lock(mutex);
    const auto it = known.find(kernel);
    if (it != known.end()) return it->second;
    cudaFuncAttributes attributes{};
    SHOOTOUT_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    const bool supports = attributes.ptxVersion >= 90;
    known.emplace(kernel, supports);
    return supports;
}

}  // namespace shootout::cuda
