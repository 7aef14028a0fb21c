// SHOOTOUT_CUDA_HOST_TIMES=1: where the host's time between two decode steps goes, summed per phase
// and printed to stderr at exit. Session 16's step timeline had the GPU idle ~230 us between two
// tokens of an 8B model (~8 % of a Q4_K_M token), all of it host work: the copy of the logits, the
// embedding row's upload, the recording of the next step's ~260 launches, the graph launch. Off, it
// costs one relaxed load a phase; on, to_host also waits for the step apart from its copy, so the
// two show separately.
#pragma once

#include <chrono>
#include <cstdint>

namespace shootout::cuda {

// Record: from a step's first op to its end (the model code and the ops' bookkeeping); then, for a
// step seen before, Find (its graph by key), Upload (the positions) and GraphLaunch, or for a new
// shape Eager (first sight) or Capture (capture, instantiate, launch); WaitGpu and CopyOut split
// to_host; CopyIn is from_host (the embedding rows).
enum class HostPhase { Record, Find, Upload, GraphLaunch, Eager, Capture, WaitGpu, CopyOut, CopyIn, Count };

bool host_times_enabled();
void add_host_time(HostPhase phase, double seconds, int64_t bytes = 0);

// Adds the time from its construction to its destruction to a phase (when enabled).
class HostTimer {
public:
    explicit HostTimer(HostPhase phase, int64_t bytes = 0)
        : phase_(phase), bytes_(bytes), on_(host_times_enabled()) {
        if (on_) start_ = std::chrono::steady_clock::now();
    }
    ~HostTimer() {
        if (!on_) return;
        const std::chrono::duration<double> d = std::chrono::steady_clock::now() - start_;
        add_host_time(phase_, d.count(), bytes_);
    }
    HostTimer(const HostTimer&) = delete;
    HostTimer& operator=(const HostTimer&) = delete;

private:
    HostPhase phase_;
    int64_t bytes_;
    bool on_;
    std::chrono::steady_clock::time_point start_{};
};

}  // namespace shootout::cuda
