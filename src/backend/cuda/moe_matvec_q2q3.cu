// Expert-indexed products of the Q2_K / Q3_K stacks (templates in moe_matvec.cuh; own file to compile
// in parallel with moe_matvec.cu and moe_matvec_kquants.cu).
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q2_K)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q3_K)

}  // namespace shootout::cuda
