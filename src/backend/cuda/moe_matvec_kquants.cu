// Expert-indexed products of the K-quant stacks (templates in moe_matvec.cuh; own file to compile in
// parallel with moe_matvec.cu).
#include "backend/cuda/moe_matvec.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q4_K)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q5_K)
SHOOTOUT_INSTANTIATE_MOE_MATVEC(Q6_K)

}  // namespace shootout::cuda
