// Builds the IQ2/IQ1 lattices' search structure with the same contents and order as ggml's
// iq2xs_init_impl. ggml sorts all points by (squared distance, index) per off-lattice level
// combination; distances here are small integers (<= 8 * 6^2), so the same order comes from
// bucketing the points by distance and walking the buckets upwards, without a sort.
#include "quant/iq2_lattice.h"

#include <cstring>

namespace shootout::quant {
namespace {

constexpr int kMapSize = 43692;  // levels 0..2 in 8 fields of 2 bits: at most 0xAAAA + 2
constexpr int kMaxDist2 = 8 * 36;

IQ2Lattice build(int grid_size) {
    const uint16_t* packed = grid_size == 256    ? kIQ2Grid256
                             : grid_size == 512  ? kIQ2Grid512
                             : grid_size == 1024 ? kIQ2Grid1024
                                                 : kIQ1Grid2048;
    const int n_distances = grid_size == 2048 ? 3 : grid_size == 1024 ? 1 : 2;
    IQ2Lattice lat;
    lat.grid_size = grid_size;
    lat.points.resize((size_t)grid_size);
    lat.map.assign(kMapSize, -1);
    for (int k = 0; k < grid_size; ++k) {
        for (int i = 0; i < 8; ++i) lat.points[k][i] = (int8_t)(2 * ((packed[k] >> (2 * i)) & 3) + 1);
        lat.map[packed[k]] = k;
    }
    std::vector<int> dist2((size_t)grid_size);
    std::vector<int> count(kMaxDist2 + 1);
    for (int u = 0; u < kMapSize; ++u) {
        if (lat.map[u] >= 0) continue;
        int8_t pos[8];
        for (int i = 0; i < 8; ++i) pos[i] = (int8_t)(2 * ((u >> (2 * i)) & 3) + 1);
        std::fill(count.begin(), count.end(), 0);
        for (int j = 0; j < grid_size; ++j) {
            int d2 = 0;
            for (int i = 0; i < 8; ++i) d2 += (lat.points[j][i] - pos[i]) * (lat.points[j][i] - pos[i]);
            dist2[j] = d2;
            ++count[d2];
        }
        const size_t start = lat.neighbours.size();
        lat.map[u] = -1 - (int32_t)start;
        lat.neighbours.push_back(0);
        int n = 0, n_have = 0;
        for (int d = 0; d <= kMaxDist2 && n_have < n_distances; ++d) {
            if (!count[d]) continue;
            ++n_have;
            for (int j = 0; j < grid_size; ++j)
                if (dist2[j] == d) lat.neighbours.push_back((uint16_t)j), ++n;
        }
        lat.neighbours[start] = (uint16_t)n;
    }
    return lat;
}

std::vector<uint64_t> dequant_grid(const uint16_t* packed, int grid_size, const int8_t* level_values) {
    std::vector<uint64_t> grid((size_t)grid_size);
    for (int k = 0; k < grid_size; ++k) {
        int8_t bytes[8];
        for (int i = 0; i < 8; ++i) bytes[i] = level_values[(packed[k] >> (2 * i)) & 3];
        std::memcpy(&grid[k], bytes, 8);
    }
    return grid;
}

constexpr int8_t kIQ2Values[4] = {8, 25, 43, 0};
constexpr int8_t kIQ1Values[4] = {-1, 0, 1, 0};

}  // namespace

const IQ2Lattice& iq2_lattice(int grid_size) {
    // One static per size, so that a type builds only its own lattice (the 2048 one takes longest).
    switch (grid_size) {
        case 256: { static const IQ2Lattice l = build(256); return l; }
        case 512: { static const IQ2Lattice l = build(512); return l; }
        case 1024: { static const IQ2Lattice l = build(1024); return l; }
        default: { static const IQ2Lattice l = build(2048); return l; }
    }
}

const uint64_t* iq2xxs_grid() {
    static const std::vector<uint64_t> grid = dequant_grid(kIQ2Grid256, 256, kIQ2Values);
    return grid.data();
}
const uint64_t* iq2xs_grid() {
    static const std::vector<uint64_t> grid = dequant_grid(kIQ2Grid512, 512, kIQ2Values);
    return grid.data();
}
const uint64_t* iq2s_grid() {
    static const std::vector<uint64_t> grid = dequant_grid(kIQ2Grid1024, 1024, kIQ2Values);
    return grid.data();
}
const uint64_t* iq1s_grid() {
    static const std::vector<uint64_t> grid = dequant_grid(kIQ1Grid2048, 2048, kIQ1Values);
    return grid.data();
}

}  // namespace shootout::quant
