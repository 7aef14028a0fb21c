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

// Trial (SHOOTOUT_CUDA_CARVEOUT=P, 0..100): every kernel launched with PDL asks for the same split of
// an SM's L1 / shared memory, P % of the most shared memory. Session 17's reading of the step
// timeline: on 89-96 % of the SMs the normed blocks after a product (no shared memory) enter only
// after that SM's last product warp has left, 0.45-1 us later (median), where their registers were
// free earlier; a kernel whose shared memory needs another split waits for the SM to drain and be
// reconfigured. With one split for every decode kernel none would. -1 (unset): the driver's choice.
int requested_carveout() {
    static const int carveout = (int)env_long("SHOOTOUT_CUDA_CARVEOUT", 0, 100, -1);
    return carveout;
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
    // Once per kernel, as the attributes: the carveout trial (requested_carveout).
    if (supports && requested_carveout() >= 0)
        SHOOTOUT_CUDA_CHECK(
            cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout, requested_carveout()));
    known.emplace(kernel, supports);
    return supports;
}

}  // namespace shootout::cuda
