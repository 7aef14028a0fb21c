// Turns CUDA runtime failures into shootout::Error with the CUDA error string and the call site.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "util/error.h"

namespace shootout::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
    fail(std::string("cuda ") + file + ":" + std::to_string(line),
         std::string(what) + ": " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

}  // namespace shootout::cuda

#define SHOOTOUT_CUDA_CHECK(call)                                                          \
    do {                                                                                   \
        cudaError_t shootout_err_ = (call);                                                \
        if (shootout_err_ != cudaSuccess)                                                  \
            ::shootout::cuda::throw_cuda_error(shootout_err_, #call, __FILE__, __LINE__); \
    } while (0)
