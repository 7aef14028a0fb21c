// Decode kernels of F16 and BF16 (templates in matvec_kernels.cuh).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(F16)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(F16)
SHOOTOUT_INSTANTIATE_MATVEC(BF16)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(BF16)

}  // namespace shootout::cuda
