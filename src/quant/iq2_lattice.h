// The 8-element lattices of the IQ2 and IQ1 types: points of 8 odd levels 2l+1 (l = 0..2) chosen
// by ggml, 256 of them for IQ2_XXS, 512 for IQ2_XS, 1024 for IQ2_S and 2048 for IQ1_S/IQ1_M, with
// the search structure ggml's quantizers use (iq2xs_init_impl): a map from every 2-bit level
// combination (element i at bits 2i) to its point's index, or, for a combination off the
// lattice, to a run of its nearest points: all points at the smallest n squared distances
// (n = 2 for IQ2_XXS/XS, 1 for IQ2_S, 3 for IQ1), ordered by (distance, index) as ggml's qsort
// leaves them (the quantizers keep the first of equal candidates, so the order matters).
// Built once on first use from the grid data (iq2_grid_data.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace shootout::quant {

extern const uint16_t kIQ2Grid256[256];
extern const uint16_t kIQ2Grid512[512];
extern const uint16_t kIQ2Grid1024[1024];
extern const uint16_t kIQ1Grid2048[2048];

struct IQ2Lattice {
    int grid_size = 0;
    std::vector<std::array<int8_t, 8>> points;  // 2l+1 per element
    std::vector<int32_t> map;                   // 43692 entries: point index, or -1 - first neighbour
    std::vector<uint16_t> neighbours;           // runs of [count, point indices...]

    // Levels u (2 bits each): the point's index when u is on the lattice, else -1 with *run set.
    int lookup(uint16_t u, const uint16_t** run) const {
        const int32_t m = map[u];
        if (m >= 0) return m;
        *run = neighbours.data() + (-m - 1);
        return -1;
    }
};

const IQ2Lattice& iq2_lattice(int grid_size);  // 256, 512, 1024 or 2048 (IQ1)

// Dequantization grids as ggml stores them (8 bytes per point, element i in byte i): the IQ2
// grids hold 8, 25, 43 for levels 0..2; IQ1's holds int8 -1, 0, +1.
const uint64_t* iq2xxs_grid();  // 256 entries
const uint64_t* iq2xs_grid();   // 512
const uint64_t* iq2s_grid();    // 1024
const uint64_t* iq1s_grid();    // 2048

}  // namespace shootout::quant
