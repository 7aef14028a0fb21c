// Phase timing of one kernel's block, for finding where a latency-bound kernel spends its time in
// the real pipeline (ncu serialises kernels, so a PDL kernel's wait and overlap look nothing like a
// captured decode step; and its source-level sampling has too few samples on a handful of working
// blocks). Compiled in only with -DSHOOTOUT_CUDA_PHASE_TRACE=ON (tools/gpu-trace-attention.sh);
// otherwise every mark is nothing.
//
// A kernel opens a trace in one thread of one block (phase_trace_open), marks phase boundaries with
// clock64 (phase_mark(t, i), i = 0 at entry), and the process prints, at exit, the median and the
// 10th / 90th percentiles of each phase's cycles over the traced calls, skipping the first
// kPhaseTraceSkip (warm-up), plus the median wall time between two calls' entries.
#pragma once

#include <cstdint>

namespace shootout::cuda {

constexpr int kPhaseMarks = 8;
constexpr unsigned kPhaseTraceCalls = 4096;
constexpr unsigned kPhaseTraceSkip = 200;

#if defined(SHOOTOUT_CUDA_PHASE_TRACE)
}  // namespace shootout::cuda

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace shootout::cuda {
// Internal to the one translation unit that traces (device variables do not link across units
// without relocatable device code).
namespace {

__device__ unsigned long long g_phase_trace[kPhaseTraceCalls * (kPhaseMarks + 1)];
__device__ unsigned g_phase_trace_calls;

struct PhaseTrace {
    unsigned slot;
    bool on;
};
// `on`: this thread records (one thread of one block).
__device__ __forceinline__ PhaseTrace phase_trace_open(bool on) {
    PhaseTrace t{0, on};
    if (on) {
        t.slot = atomicAdd(&g_phase_trace_calls, 1u) % kPhaseTraceCalls;
        // Marks this call will not reach (an early exit) read as 0, not as an older call's.
        for (int i = 1; i < kPhaseMarks; ++i) g_phase_trace[t.slot * (kPhaseMarks + 1) + i] = 0;
        unsigned long long ns;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
        g_phase_trace[t.slot * (kPhaseMarks + 1) + kPhaseMarks] = ns;
    }
    return t;
}
__device__ __forceinline__ void phase_mark(const PhaseTrace& t, int i) {
    if (t.on) g_phase_trace[t.slot * (kPhaseMarks + 1) + i] = clock64();
}

std::string& traced_kernel() {
    static std::string name;
    return name;
}

// Median, 10th and 90th percentile of each phase (mark i-1 -> mark i) over the traced calls that
// reached both marks (a block that left early has 0 for the marks after it).
void phase_trace_report() {
    unsigned n = 0;
    if (cudaMemcpyFromSymbol(&n, g_phase_trace_calls, sizeof n) != cudaSuccess) return;
    std::vector<unsigned long long> t(kPhaseTraceCalls * (kPhaseMarks + 1));
    if (cudaMemcpyFromSymbol(t.data(), g_phase_trace, t.size() * sizeof t[0]) != cudaSuccess) return;
    const unsigned calls = std::min(n, kPhaseTraceCalls);
    std::fprintf(stderr, "phase trace of %s: %u calls (the first %u skipped)\n", traced_kernel().c_str(), n,
                 kPhaseTraceSkip);
    auto print = [](const std::string& what, std::vector<long long>& d) {
        if (d.empty()) return;
        std::sort(d.begin(), d.end());
        std::fprintf(stderr, "  %s: median %lld, p10 %lld, p90 %lld (%zu calls)\n", what.c_str(), d[d.size() / 2],
                     d[d.size() / 10], d[d.size() * 9 / 10], d.size());
    };
    for (int i = 1; i < kPhaseMarks; ++i) {
        std::vector<long long> d;
        for (unsigned c = kPhaseTraceSkip; c < calls; ++c) {
            const unsigned long long* m = &t[c * (kPhaseMarks + 1)];
            if (m[i] > 0 && m[i - 1] > 0) d.push_back((long long)(m[i] - m[i - 1]));
        }
        print("phase " + std::to_string(i) + " (cycles)", d);
    }
    std::vector<long long> gap;
    for (unsigned c = kPhaseTraceSkip + 1; c < calls; ++c)
        gap.push_back((long long)(t[c * (kPhaseMarks + 1) + kPhaseMarks] - t[(c - 1) * (kPhaseMarks + 1) + kPhaseMarks]));
    print("ns between two calls' entries", gap);
}

// Host: arms the exit report, once.
void phase_trace_arm(const char* kernel_name) {
    static const bool armed = [&] {
        traced_kernel() = kernel_name;
        std::atexit(phase_trace_report);
        return true;
    }();
    (void)armed;
}

}  // namespace
#else
struct PhaseTrace {};
__device__ __forceinline__ PhaseTrace phase_trace_open(bool) { return {}; }
__device__ __forceinline__ void phase_mark(const PhaseTrace&, int) {}
inline void phase_trace_arm(const char*) {}
#endif

}  // namespace shootout::cuda
