// Decode kernels of F16 and BF16 (templates in matvec_kernels.cuh).
#include "backend/cuda/matvec_kernels.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(F16)
SHOOTOUT_INSTANTIATE_MATVEC(BF16)

}  // namespace shootout::cuda
