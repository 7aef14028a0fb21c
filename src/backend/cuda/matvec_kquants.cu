// Decode kernels of the K-quants (templates in matvec_kernels.cuh).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(Q4_K)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(Q4_K)
SHOOTOUT_INSTANTIATE_MATVEC(Q5_K)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(Q5_K)
SHOOTOUT_INSTANTIATE_MATVEC(Q6_K)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(Q6_K)

}  // namespace shootout::cuda
