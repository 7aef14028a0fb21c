// See step_graph.h.
#include "backend/cuda/step_graph.h"

#include "backend/cuda/cuda_check.cuh"
#include "backend/cuda/host_times.h"

namespace shootout::cuda {
namespace {

// Position slots in device memory: two per layer (RoPE of q and k share the step's position but are
// separate ops, and attention one more) covers any dense model here; a longer step runs eagerly.
constexpr int64_t kMaxPositions = 4096;
// Shapes of steps kept as graphs (a decode loop has one or two: with and without the output head).
constexpr size_t kMaxGraphs = 8;

}  // namespace

StepGraphs::StepGraphs() {
    SHOOTOUT_CUDA_CHECK(cudaStreamCreate(&stream_));  // a blocking stream: ordered with the legacy stream
    SHOOTOUT_CUDA_CHECK(cudaMalloc(&pos_device_, kMaxPositions * sizeof(int64_t)));
}

StepGraphs::~StepGraphs() {
    drop_graphs();
    cudaFree(pos_device_);
    cudaStreamDestroy(stream_);
}

void StepGraphs::drop_graphs() {
    for (auto& [key, entry] : graphs_)
        if (entry.exec) cudaGraphExecDestroy(entry.exec);
    graphs_.clear();
    last_ = nullptr;
}

void StepGraphs::begin() {
    end();
    recording_ = true;
    if (host_times_enabled()) begun_ = std::chrono::steady_clock::now();
    key_.clear();
    ops_.clear();
    positions_.clear();
}

void StepGraphs::record(std::string_view key, int64_t pos, Launch launch) {
    key_ += key;
    key_ += pos >= 0 ? 'p' : '-';  // which ops take a position is part of the shape
    int64_t slot = -1;
    if (pos >= 0) {
        slot = (int64_t)positions_.size();
        positions_.push_back(pos);
    }
    ops_.push_back({std::move(launch), slot});
}

void StepGraphs::run_eager() {
    void* before = workspace_.reserve(0);
    for (const Op& op : ops_) op.launch(stream_, nullptr);
    if (workspace_.reserve(0) != before) drop_graphs();  // their scratch address is gone
    ++eager_steps_;
}

void StepGraphs::upload_positions() {
    // Pageable source: the call returns once the values are staged, so positions_ may change after.
    if (!positions_.empty())
        SHOOTOUT_CUDA_CHECK(cudaMemcpyAsync(pos_device_, positions_.data(), positions_.size() * sizeof(int64_t),
                                            cudaMemcpyHostToDevice, stream_));
}

void StepGraphs::end() {
    if (!recording_) return;
    recording_ = false;
    if (ops_.empty()) return;
    if (host_times_enabled())
        add_host_time(HostPhase::Record,
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - begun_).count());
    if ((int64_t)positions_.size() > kMaxPositions) {
        HostTimer timer(HostPhase::Eager);
        run_eager();
        return;
    }
    std::pair<const std::string, Entry>* found = nullptr;
    {
        HostTimer timer(HostPhase::Find, (int64_t)key_.size());
        if (last_ && last_->first == key_) {
            found = last_;
        } else {
            const auto it = graphs_.find(key_);
            if (it != graphs_.end()) found = &*it;
        }
    }
    if (!found) {
        HostTimer timer(HostPhase::Eager);
        if (graphs_.size() >= kMaxGraphs) drop_graphs();
        last_ = &*graphs_.emplace(key_, Entry{1, nullptr}).first;
        // First sight of this shape: eagerly, which also grows the workspace to what it needs, so
        // the capture of the next one allocates nothing.
        run_eager();
        return;
    }
    last_ = found;
    Entry& entry = found->second;
    {
        HostTimer timer(HostPhase::Upload, (int64_t)(positions_.size() * sizeof(int64_t)));
        upload_positions();
    }
    if (!entry.exec) {
        HostTimer timer(HostPhase::Capture);
        SHOOTOUT_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
        try {
            for (const Op& op : ops_) op.launch(stream_, op.slot >= 0 ? pos_device_ + op.slot : nullptr);
        } catch (...) {
            cudaGraph_t broken = nullptr;
            cudaStreamEndCapture(stream_, &broken);
            if (broken) cudaGraphDestroy(broken);
            cudaGetLastError();
            throw;
        }
        cudaGraph_t graph = nullptr;
        SHOOTOUT_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
        const cudaError_t err = cudaGraphInstantiate(&entry.exec, graph, 0);
        cudaGraphDestroy(graph);
        if (err != cudaSuccess) {
            entry.exec = nullptr;
            throw_cuda_error(err, "cudaGraphInstantiate (decode step)", __FILE__, __LINE__);
        }
        ++captured_steps_;
        SHOOTOUT_CUDA_CHECK(cudaGraphLaunch(entry.exec, stream_));
        return;
    }
    HostTimer timer(HostPhase::GraphLaunch, (int64_t)ops_.size());
    ++replayed_steps_;
    SHOOTOUT_CUDA_CHECK(cudaGraphLaunch(entry.exec, stream_));
}

}  // namespace shootout::cuda
