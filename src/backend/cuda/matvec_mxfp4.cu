// Decode kernels of MXFP4 (templates in matvec_kernels.cuh; the unit in matvec_units.cuh).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(MXFP4)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(MXFP4)

}  // namespace shootout::cuda
