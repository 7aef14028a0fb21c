// Decode kernels of the ternary types and of IQ1_S / IQ1_M (templates in matvec_kernels.cuh; the
// units in matvec_units_tq_iq1.cuh; own file to compile in parallel with the others).
#include "backend/cuda/matvec_kernels.cuh"
#include "backend/cuda/matvec_normed.cuh"

namespace shootout::cuda {

SHOOTOUT_INSTANTIATE_MATVEC(TQ2_0)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(TQ2_0)
SHOOTOUT_INSTANTIATE_MATVEC(TQ1_0)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(TQ1_0)
SHOOTOUT_INSTANTIATE_MATVEC(IQ1_S)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ1_S)
SHOOTOUT_INSTANTIATE_MATVEC(IQ1_M)
SHOOTOUT_INSTANTIATE_MATVEC_NORMED(IQ1_M)

}  // namespace shootout::cuda
