// The host side of step_trace.h: the registry of units, the shared ring and its dump at exit.
#include "backend/cuda/step_trace.h"

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace shootout::cuda {
#if defined(SHOOTOUT_CUDA_STEP_TRACE)
namespace {
constexpr unsigned long long kRecords = kStepTraceSms * kStepTraceRing;

std::vector<StepTraceBind>& binds() {
    static std::vector<StepTraceBind> v;
    return v;
}
StepRecord* g_ring = nullptr;
unsigned long long* g_count = nullptr;

// Every ring's records (the last kStepTraceRing of each; the reader sorts them by time), then the file.
void dump() {
    const char* path = std::getenv("SHOOTOUT_STEP_TRACE");
    if (!path || !g_ring || cudaDeviceSynchronize() != cudaSuccess) return;
    std::vector<unsigned long long> counts(kStepTraceSms);
    std::vector<StepRecord> rings(kRecords);
    if (cudaMemcpy(counts.data(), g_count, kStepTraceSms * sizeof counts[0], cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(rings.data(), g_ring, kRecords * sizeof(StepRecord), cudaMemcpyDeviceToHost) != cudaSuccess)
        return;
    unsigned long long kept = 0, taken = 0;
    for (unsigned long long c : counts) {
        kept += c < kStepTraceRing ? c : kStepTraceRing;
        taken += c;
    }
    std::FILE* f = std::fopen(path, "wb");
    if (!f) {
        std::fprintf(stderr, "step trace: cannot write %s\n", path);
        return;
    }
    std::fwrite(&kept, sizeof kept, 1, f);
    for (unsigned s = 0; s < kStepTraceSms; ++s) {
        const unsigned long long n = counts[s] < kStepTraceRing ? counts[s] : kStepTraceRing;
        std::fwrite(&rings[s * kStepTraceRing], sizeof(StepRecord), n, f);
    }
    std::fclose(f);
    std::fprintf(stderr, "step trace: %llu records (of %llu) written to %s\n", kept, taken, path);
}
}  // namespace

bool step_trace_register(StepTraceBind bind) {
    binds().push_back(bind);
    return true;
}

void step_trace_init() {
    if (g_ring || !std::getenv("SHOOTOUT_STEP_TRACE")) return;
    if (cudaMalloc(&g_ring, kRecords * sizeof(StepRecord)) != cudaSuccess ||
        cudaMalloc(&g_count, kStepTraceSms * sizeof(unsigned long long)) != cudaSuccess ||
        cudaMemset(g_count, 0, kStepTraceSms * sizeof(unsigned long long)) != cudaSuccess) {
        std::fprintf(stderr, "step trace: cannot allocate the ring\n");
        g_ring = nullptr;
        return;
    }
    for (StepTraceBind b : binds()) b(g_ring, g_count);
    std::atexit(dump);
}
#else
bool step_trace_register(StepTraceBind) { return true; }
void step_trace_init() {}
#endif

}  // namespace shootout::cuda
