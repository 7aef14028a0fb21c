// Decode kernels of the legacy 32-element block types (templates in matvec_kernels.cuh).
#include "backend/cuda/matvec_kernels.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(Q8_0)
SHOOTOUT_INSTANTIATE_MATVEC(Q4_0)
SHOOTOUT_INSTANTIATE_MATVEC(Q4_1)
SHOOTOUT_INSTANTIATE_MATVEC(Q5_0)
SHOOTOUT_INSTANTIATE_MATVEC(Q5_1)

}  // namespace shootout::cuda
