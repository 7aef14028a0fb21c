// The CUDA implementation of backend::Ops: buffers and the KV cache in device memory, weights
// uploaded once in their GGUF layout (keyed by their address in the mapped file), every op a kernel on
// one stream. Plain C++: the model includes this only when the build has CUDA (SHOOTOUT_HAVE_CUDA).
#pragma once

#include <memory>

#include "backend/ops.h"

namespace shootout::cuda {

// Throws Error when no CUDA device answers.
std::unique_ptr<backend::Ops> make_cuda_ops();

// Norm folding in decode steps (the residual add into the product before an RMSNorm, the norm into the
// products after it; cuda_ops_steps.cpp): on unless SHOOTOUT_CUDA_NORM_PRODUCT=0. Tests set it to compare the
// two ways in one process; ops made before keep reading the switch at each op.
bool norm_folding();
void set_norm_folding(bool on);

}  // namespace shootout::cuda
