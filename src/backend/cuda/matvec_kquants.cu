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
template void launch_matvec_normed_mixed<TypeId::Q4_K, TypeId::Q6_K>(const DeviceWeight* const*, float* const*, int,
                                                                    int, const NormedInput&, cudaStream_t);
template void launch_matvec_normed_mixed<TypeId::Q5_K, TypeId::Q6_K>(const DeviceWeight* const*, float* const*, int,
                                                                    int, const NormedInput&, cudaStream_t);

}  // namespace shootout::cuda
