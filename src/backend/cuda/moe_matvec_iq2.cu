// Expert-indexed products of the IQ2_XXS, IQ2_XS and IQ2_S stacks (templates in moe_matvec.cuh; own
// file to compile in parallel with moe_matvec.cu).
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ2_XXS)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ2_XS)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ2_S)

}  // namespace shootout::cuda
