// Decode kernels of IQ2_XXS, IQ2_XS and IQ2_S (templates in matvec_kernels.cuh; the units in
// matvec_units_iq23.cuh).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(IQ2_XXS)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ2_XXS)
SHOOTOUT_INSTANTIATE_MATVEC(IQ2_XS)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ2_XS)
SHOOTOUT_INSTANTIATE_MATVEC(IQ2_S)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ2_S)

}  // namespace shootout::cuda
