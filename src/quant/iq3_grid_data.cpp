// The IQ3 lattice points, as data from ggml (ggml-quants.c, iq3xs_init_impl): each entry packs
// 4 levels l (0..7) of 3 bits, element i at bits 3i; the point is (2l+1) per element. IQ3_XXS
// uses the 256-point grid, IQ3_S the 512-point one.
#include "quant/iq3_lattice.h"
#include "quant/iq_grid_levels.h"

namespace shootout::quant {

const uint16_t kIQ3Grid256[256] = {SHOOTOUT_IQ3_GRID256_LEVELS};

const uint16_t kIQ3Grid512[512] = {SHOOTOUT_IQ3_GRID512_LEVELS};

}  // namespace shootout::quant
