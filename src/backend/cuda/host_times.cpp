// See host_times.h.
#include "backend/cuda/host_times.h"

#include <cstdio>
#include <mutex>

#include "util/env.h"

namespace shootout::cuda {
namespace {

struct Totals {
    double seconds[(int)HostPhase::Count] = {};
    int64_t count[(int)HostPhase::Count] = {};
    int64_t bytes[(int)HostPhase::Count] = {};
    std::mutex mutex;

    ~Totals() {
        static const char* names[] = {"record a step",  "find its graph", "upload positions",
                                      "launch the graph", "run eagerly",    "capture a graph",
                                      "wait for the GPU", "copy to host",   "copy to device"};
        static_assert(sizeof(names) / sizeof(names[0]) == (size_t)HostPhase::Count);
        std::fprintf(stderr,
                     "host times (SHOOTOUT_CUDA_HOST_TIMES): phase, calls, mean us, total ms, mean size (bytes; "
                     "for the graph launch its launches)\n");
        for (int p = 0; p < (int)HostPhase::Count; ++p) {
            if (count[p] == 0) continue;
            std::fprintf(stderr, "  %-20s %8lld %10.1f %10.1f %12lld\n", names[p], (long long)count[p],
                         1e6 * seconds[p] / (double)count[p], 1e3 * seconds[p], (long long)(bytes[p] / count[p]));
        }
    }
};

Totals& totals() {
    static Totals t;
    return t;
}

}  // namespace

bool host_times_enabled() {
    static const bool on = env_is("SHOOTOUT_CUDA_HOST_TIMES", "1");
    return on;
}

void add_host_time(HostPhase phase, double seconds, int64_t bytes) {
    Totals& t = totals();
    std::lock_guard<std::mutex> lock(t.mutex);
    t.seconds[(int)phase] += seconds;
    t.count[(int)phase] += 1;
    t.bytes[(int)phase] += bytes;
}

}  // namespace shootout::cuda
