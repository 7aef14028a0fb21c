// The CUDA implementation of backend::Ops: buffers and the KV cache in device memory, weights
// uploaded once in their GGUF layout (keyed by their address in the mapped file), every op a kernel on
// one stream. Plain C++: the model includes this only when the build has CUDA (SHOOTOUT_HAVE_CUDA).
#pragma once

#include <memory>

#include "backend/ops.h"

namespace shootout::cuda {

// Throws Error when no CUDA device answers.
std::unique_ptr<backend::Ops> make_cuda_ops();

}  // namespace shootout::cuda
