// Decode kernels of IQ3_XXS and IQ3_S (templates in matvec_kernels.cuh; the units in
// matvec_units_iq23.cuh).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(IQ3_XXS)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ3_XXS)
SHOOTOUT_INSTANTIATE_MATVEC(IQ3_S)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ3_S)

}  // namespace shootout::cuda
