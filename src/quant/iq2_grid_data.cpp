// The 8-element lattices of IQ2_XXS (256 points), IQ2_XS (512), IQ2_S (1024) and IQ1_S/IQ1_M (2048),
// as data from ggml (ggml-quants.c, iq2xs_init_impl): each entry packs 8 levels l (0..3, 2 bits,
// element i at bits 2i); the point is (2l+1) per element. (IQ1's levels 0..2 stand for -1, 0, +1.)
// Extracted from ggml-quants.c by a one-off script; do not edit by hand.
#include "quant/iq2_lattice.h"
#include "quant/iq_grid_levels.h"

namespace shootout::quant {

const uint16_t kIQ2Grid256[256] = {SHOOTOUT_IQ2_GRID256_LEVELS};

const uint16_t kIQ2Grid512[512] = {SHOOTOUT_IQ2_GRID512_LEVELS};

const uint16_t kIQ2Grid1024[1024] = {SHOOTOUT_IQ2_GRID1024_LEVELS};

// The values are in iq1_grid_values.inc, which the CUDA backend includes too (one source for both).
const uint16_t kIQ1Grid2048[2048] = {
#include "quant/iq1_grid_values.inc"
};

}  // namespace shootout::quant
