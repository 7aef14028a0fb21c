// Decode kernels of the 2- and 3-bit K-quants (templates in matvec_kernels.cuh; own file to compile
// in parallel with matvec_kquants.cu).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(Q2_K)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(Q2_K)
SHOOTOUT_INSTANTIATE_MATVEC(Q3_K)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(Q3_K)

}  // namespace shootout::cuda
