// The IQ3 lattices: points of 4 odd levels 2l+1 (l = 0..7) chosen by ggml, 256 of them for IQ3_XXS
// and 512 for IQ3_S, with the search structure ggml's quantizers use: a map from every one of the
// 8^4 level combinations to its point's index, or, for a combination off the lattice, to a list of
// its nearest points (all points at the smallest 2 (256-grid) or 3 (512-grid) squared distances).
// Built once on first use, from the grid data (iq3_grid_data.cpp).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace shootout::quant {

extern const uint16_t kIQ3Grid256[256];
extern const uint16_t kIQ3Grid512[512];

struct IQ3Lattice {
    int grid_size = 0;
    std::vector<std::array<int8_t, 4>> points;           // 2l+1 per element
    std::vector<int32_t> map;                            // 4096 entries: point index, or -1 - first neighbour
    std::vector<uint16_t> neighbours;                    // runs of [count, point indices...]

    // Levels u (3 bits each, element i at bits 3i): the point's index when u is on the lattice,
    // else -1 with *run set to its neighbour run.
    int lookup(uint16_t u, const uint16_t** run) const {
        const int32_t m = map[u];
        if (m >= 0) return m;
        *run = neighbours.data() + (-m - 1);
        return -1;
    }
};

const IQ3Lattice& iq3_lattice(int grid_size);  // 256 or 512

// Dequantization grids as ggml stores them: 4 bytes per point, element i in byte i. IQ3_XXS's
// values are 4 * (2l+1) except the top level, 62 instead of 60; IQ3_S's are 2l+1.
const uint32_t* iq3xxs_grid();  // 256 entries
const uint32_t* iq3s_grid();    // 512 entries

// ggml's ksigns_iq2xs: 7 stored sign bits plus an 8th that makes the count of minus signs even.
inline uint8_t iq_signs_from_7bits(unsigned bits7) {
    return (uint8_t)(bits7 | ((__builtin_popcount(bits7) & 1) << 7));
}

}  // namespace shootout::quant
