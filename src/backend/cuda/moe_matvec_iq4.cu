// Expert-indexed products of the IQ4_NL and IQ4_XS stacks (templates in moe_matvec.cuh; own file to
// compile in parallel with moe_matvec.cu).
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ4_NL)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ4_XS)

}  // namespace shootout::cuda
