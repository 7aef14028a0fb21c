// The memory read rate a backend's decode is held against (bench.h).
#include "bench/bench.h"

#include "model/model.h"

#ifdef SHOOTOUT_HAVE_CUDA
#include "backend/cuda/cuda_kernels.h"
#endif

namespace shootout::bench {

double measured_read_gbps(Backend backend) {
#ifdef SHOOTOUT_HAVE_CUDA
    // No device: 0, and loading the model reports it (with the driver's reason).
    if (backend == Backend::Cuda && cuda::device_count() > 0) return cuda::measure_read_gbps();
#else
    (void)backend;
#endif
    return 0.0;  // the CPU's: not measured
}

}  // namespace shootout::bench
