// Decode kernels of IQ4_NL and IQ4_XS (templates in matvec_kernels.cuh; the units in matvec_units.cuh).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(IQ4_NL)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ4_NL)
SHOOTOUT_INSTANTIATE_MATVEC(IQ4_XS)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ4_XS)

}  // namespace shootout::cuda
