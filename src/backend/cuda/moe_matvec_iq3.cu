// Expert-indexed products of the IQ3_XXS and IQ3_S stacks (templates in moe_matvec.cuh; own file to
// compile in parallel with moe_matvec.cu).
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ3_XXS)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ3_S)

}  // namespace shootout::cuda
