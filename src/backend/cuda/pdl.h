// The switch for Programmatic Dependent Launch (pdl.cuh), as plain C++ so tests and the CLI can read
// and set it without CUDA headers.
//
// On by default on devices of compute capability 9.0 and up (Hopper: the first with PDL); off when the
// environment variable SHOOTOUT_CUDA_PDL is 0, so one build can be timed both ways
// (SHOOTOUT_CUDA_PDL=0 tools/gpu-profile.sh ...). Below 9.0 it is always off.
#pragma once

namespace shootout::cuda {

// Whether kernels that support it are launched with PDL now: the request (environment, or
// set_pdl_enabled) and a device of compute capability >= 9.0 (the current device at the first call).
bool pdl_enabled();

// Overrides the environment for the rest of the process (tests run the same launches both ways).
// Launches already captured into a CUDA graph keep the way they were captured.
void set_pdl_enabled(bool enabled);

// Whether the kernel's code was compiled for PTX 9.0 or later, so it holds the griddepcontrol
// instructions pdl.cuh emits only there (a kernel JIT-compiled from older PTX has no wait and must
// not be launched with PDL). Cached per kernel; kernel: the address of a __global__ function.
bool kernel_supports_pdl(const void* kernel);

}  // namespace shootout::cuda
