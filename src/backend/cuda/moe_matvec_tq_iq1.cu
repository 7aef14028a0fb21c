// Expert-indexed products of the TQ2_0 / TQ1_0 / IQ1_S / IQ1_M stacks (templates in moe_matvec.cuh;
// own file to compile in parallel with the other moe_matvec*.cu).
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(TQ2_0)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(TQ1_0)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ1_S)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(IQ1_M)

}  // namespace shootout::cuda
