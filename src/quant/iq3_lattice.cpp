// Builds the IQ3 lattices' search structure exactly as ggml's iq3xs_init_impl does, so that a
// quantizer walking the neighbour lists visits the same candidates in the same order (ties in
// the search go to the first candidate, so the order matters for bit-exactness): neighbours sorted
// by (squared distance, point index).
#include "quant/iq3_lattice.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace shootout::quant {
namespace {

IQ3Lattice build(int grid_size) {
    const uint16_t* packed = grid_size == 256 ? kIQ3Grid256 : kIQ3Grid512;
    const int n_distances = grid_size == 256 ? 2 : 3;
    IQ3Lattice lat;
    lat.grid_size = grid_size;
    lat.points.resize((size_t)grid_size);
    lat.map.assign(4096, -1);
    for (int k = 0; k < grid_size; ++k) {
        for (int i = 0; i < 4; ++i) lat.points[k][i] = (int8_t)(2 * ((packed[k] >> (3 * i)) & 7) + 1);
        lat.map[packed[k]] = k;
    }
    std::vector<std::pair<int, int>> dist2((size_t)grid_size);  // (squared distance, point)
    for (int u = 0; u < 4096; ++u) {
        if (lat.map[u] >= 0) continue;
        int8_t pos[4];
        for (int i = 0; i < 4; ++i) pos[i] = (int8_t)(2 * ((u >> (3 * i)) & 7) + 1);
        for (int j = 0; j < grid_size; ++j) {
            int d2 = 0;
            for (int i = 0; i < 4; ++i) d2 += (lat.points[j][i] - pos[i]) * (lat.points[j][i] - pos[i]);
            dist2[j] = {d2, j};
        }
        std::sort(dist2.begin(), dist2.end());
        // All points at the n_distances smallest distinct distances.
        const size_t start = lat.neighbours.size();
        lat.map[u] = -1 - (int32_t)start;
        lat.neighbours.push_back(0);
        int d2 = dist2[0].first, n_have = 1, n = 0;
        for (int j = 0; j < grid_size; ++j) {
            if (dist2[j].first > d2) {
                if (n_have == n_distances) break;
                d2 = dist2[j].first;
                ++n_have;
            }
            lat.neighbours.push_back((uint16_t)dist2[j].second);
            ++n;
        }
        lat.neighbours[start] = (uint16_t)n;
    }
    return lat;
}

std::vector<uint32_t> dequant_grid(int grid_size, const uint8_t* level_values) {
    const uint16_t* packed = grid_size == 256 ? kIQ3Grid256 : kIQ3Grid512;
    std::vector<uint32_t> grid((size_t)grid_size);
    for (int k = 0; k < grid_size; ++k) {
        uint8_t bytes[4];
        for (int i = 0; i < 4; ++i) bytes[i] = level_values[(packed[k] >> (3 * i)) & 7];
        std::memcpy(&grid[k], bytes, 4);
    }
    return grid;
}

}  // namespace

const IQ3Lattice& iq3_lattice(int grid_size) {
    static const IQ3Lattice lattice256 = build(256);
    static const IQ3Lattice lattice512 = build(512);
    return grid_size == 256 ? lattice256 : lattice512;
}

const uint32_t* iq3xxs_grid() {
    static const uint8_t kValues[8] = {4, 12, 20, 28, 36, 44, 52, 62};
    static const std::vector<uint32_t> grid = dequant_grid(256, kValues);
    return grid.data();
}

const uint32_t* iq3s_grid() {
    static const uint8_t kValues[8] = {1, 3, 5, 7, 9, 11, 13, 15};
    static const std::vector<uint32_t> grid = dequant_grid(512, kValues);
    return grid.data();
}

}  // namespace shootout::quant
