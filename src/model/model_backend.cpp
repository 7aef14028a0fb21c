// Model::load on a chosen backend: the architecture is built as for the CPU, then a Transformer is
// moved onto the CUDA ops (weights uploaded once). Only code built with SHOOTOUT_HAVE_CUDA calls CUDA.
#include <string>

#include "gguf/gguf.h"
#include "model/model.h"
#include "model/transformer.h"
#include "util/error.h"

#ifdef SHOOTOUT_HAVE_CUDA
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/cuda_ops.h"
#endif

namespace shootout {

void require_backend(Backend backend) {
    if (backend == Backend::Cpu) return;
#ifndef SHOOTOUT_HAVE_CUDA
    fail("--backend cuda", "this build has no CUDA backend (configure with -DSHOOTOUT_CUDA=ON)");
#else
    if (cuda::device_count() == 0) fail("--backend cuda", "no CUDA device found (the CUDA backend needs an NVIDIA GPU)");
#endif
}

DeviceMemory device_memory(Backend backend) {
    if (backend == Backend::Cpu) return {};
    require_backend(backend);
#ifdef SHOOTOUT_HAVE_CUDA
    const cuda::MemoryInfo info = cuda::device_memory_info();
    return {info.free, info.total};
#else
    return {};  // not reached
#endif
}

std::unique_ptr<Model> Model::load(const gguf::File& file, ThreadPool& pool, Backend backend) {
    if (backend == Backend::Cpu) return load(file, pool);
    require_backend(backend);  // throws in a build without CUDA, or with no GPU
#ifndef SHOOTOUT_HAVE_CUDA
    return nullptr;  // not reached
#else
    // Every architecture here is a Transformer written in backend::Ops, all of which the CUDA
    // backend has (qwen3moe and qwen3next's MoE and Gated DeltaNet ops included).
    const std::string arch = file.architecture();
    std::unique_ptr<Model> model = load(file, pool);
    auto* transformer = dynamic_cast<model::Transformer*>(model.get());
    if (!transformer) fail(file.path(), "architecture '" + arch + "' has no CUDA path yet");
    transformer->use_ops(cuda::make_cuda_ops());
    return model;
#endif
}

}  // namespace shootout
