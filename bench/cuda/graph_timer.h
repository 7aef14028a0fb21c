// The benchmarks' clock: a body's launches captured in a CUDA graph and replayed, so launch gaps stay
// out of the figure; the median of 7 replays. Shared by bench_cuda_kernels and bench_cuda_moe.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <vector>

#include "backend/cuda/cuda_check.cuh"

namespace shootout::bench_cuda {

// Median time in ms of one call of `body` (called `calls` times per replay of a captured graph).
template <typename F>
double time_graph(cudaStream_t stream, int calls, F&& body) {
    body(0);  // warm-up outside the capture (also sizes workspaces)
    SHOOTOUT_CUDA_CHECK(cudaStreamSynchronize(stream));
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    SHOOTOUT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < calls; ++i) body(i);
    SHOOTOUT_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    SHOOTOUT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    cudaEvent_t start, stop;
    SHOOTOUT_CUDA_CHECK(cudaEventCreate(&start));
    SHOOTOUT_CUDA_CHECK(cudaEventCreate(&stop));
    SHOOTOUT_CUDA_CHECK(cudaGraphLaunch(exec, stream));  // warm replay
    std::vector<double> ms;
    for (int rep = 0; rep < 7; ++rep) {
        SHOOTOUT_CUDA_CHECK(cudaEventRecord(start, stream));
        SHOOTOUT_CUDA_CHECK(cudaGraphLaunch(exec, stream));
        SHOOTOUT_CUDA_CHECK(cudaEventRecord(stop, stream));
        SHOOTOUT_CUDA_CHECK(cudaEventSynchronize(stop));
        float t = 0;
        SHOOTOUT_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
        ms.push_back(t / calls);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

}  // namespace shootout::bench_cuda
