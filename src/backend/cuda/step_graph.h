// Decode steps as CUDA graphs. A decode step of an 8B model is ~900 small launches (~25 per layer);
// launched one by one from the host they leave the GPU idle between kernels. The CUDA Ops record the
// launches of one step (from the embedding lookup to the copy of the result to the host) instead of
// issuing them, and this class runs the step: the first time a step of this shape is seen, eagerly;
// the second time, captured into a CUDA graph and launched; later, the graph is replayed. A step's
// shape is every launch's arguments except positions (its key); positions (RoPE, the KV-cache row,
// the attention length) are read by the kernels from device memory, written before each launch, so
// one graph serves every position of the sequence.
#pragma once

#include <cuda_runtime.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/cuda/cuda_kernels.h"
#include "util/inplace_function.h"

namespace shootout::cuda {

class StepGraphs {
public:
    // Bytes of captures a recorded launch may hold (the largest lambda now, the MoE and attention
    // launches', is under this; a larger one fails to compile).
    static constexpr size_t kLaunchCapacity = 256;

    // A recorded launch. pos_device: where the op's position is in device memory (nullptr: use the
    // position captured with the launch, an eager run). In place, not std::function: ~260 a step,
    // each a heap allocation there (util/inplace_function.h).
    using Launch = InplaceFunction<void(cudaStream_t stream, const int64_t* pos_device), kLaunchCapacity>;

    StepGraphs();
    ~StepGraphs();
    StepGraphs(const StepGraphs&) = delete;
    StepGraphs& operator=(const StepGraphs&) = delete;

    cudaStream_t stream() const { return stream_; }
    bool recording() const { return recording_; }
    // Starts recording a step (ending one in progress first).
    void begin();
    // Records a launch; key: its arguments apart from the position, as bytes; pos: its position, or
    // -1 for an op that takes none.
    void record(std::string_view key, int64_t pos, Launch launch);
    // Runs the recorded step on stream() (not waiting for it) and stops recording. No-op when idle.
    void end();
    // The scratch memory of products inside steps. Graphs bake in its address, so they are dropped
    // whenever an eager run grows it.
    Workspace& workspace() { return workspace_; }

    // Counters for tests and notes: steps run eagerly, captured, replayed.
    int64_t eager_steps() const { return eager_steps_; }
    int64_t captured_steps() const { return captured_steps_; }
    int64_t replayed_steps() const { return replayed_steps_; }

private:
    struct Op {
        Launch launch;
        int64_t slot;  // index into the step's positions, -1: none
    };
    struct Entry {
        int seen = 0;
        cudaGraphExec_t exec = nullptr;
    };

    void run_eager();
    void upload_positions();
    void drop_graphs();

    cudaStream_t stream_ = nullptr;
    int64_t* pos_device_ = nullptr;  // kMaxPositions slots
    Workspace workspace_;
    bool recording_ = false;
    std::chrono::steady_clock::time_point begun_{};  // of the step being recorded (host_times.h)
    std::string key_;
    std::vector<Op> ops_;
    std::vector<int64_t> positions_;
    std::unordered_map<std::string, Entry> graphs_;
    // The entry the last step ran: the next step is almost always the same shape, found by one
    // compare instead of hashing the ~15 KB key. (Elements of an unordered_map stay put on rehash.)
    std::pair<const std::string, Entry>* last_ = nullptr;
    int64_t eager_steps_ = 0, captured_steps_ = 0, replayed_steps_ = 0;
};

}  // namespace shootout::cuda
