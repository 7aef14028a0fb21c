// The lattice point tables of the grid i-quants (IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S) as the
// CUDA kernels read them, built at compile time from the same level lists as the CPU's tables
// (quant/iq_grid_levels.h): a point's element i is byte i of its word (8 bytes for the IQ2 grids,
// 4 for IQ3), the unsigned magnitude ggml stores (signs come from the block's sign bits).
// Plain C++ (constexpr), so a host test compares every entry with quant::iq2xxs_grid() etc. and
// the device tables (quant_blocks_iq23.cuh) are initialized by these very functions.
#pragma once

#include <cstdint>

#include "quant/iq_grid_levels.h"
#include "quant/type_table.h"

namespace shootout::cuda {

template <typename Word, int N>
struct IqGridTable {
    Word points[N];
};

// Magnitudes of the levels (quant/iq2_lattice.cpp, iq3_lattice.cpp): IQ2 levels 0..2 -> 8, 25, 43;
// IQ3_XXS level l -> 4 (2l + 1) but 62 for the top one; IQ3_S -> 2l + 1.
inline constexpr uint8_t kIq2LevelValues[4] = {8, 25, 43, 0};
inline constexpr uint8_t kIq3xxsLevelValues[8] = {4, 12, 20, 28, 36, 44, 52, 62};
inline constexpr uint8_t kIq3sLevelValues[8] = {1, 3, 5, 7, 9, 11, 13, 15};

// Element i of point k: values[level], the level at bits kBits * i of levels[k].
template <typename Word, int N, int kBits>
constexpr IqGridTable<Word, N> pack_iq_grid(const uint16_t (&levels)[N], const uint8_t (&values)[1 << kBits]) {
    IqGridTable<Word, N> t{};
    for (int k = 0; k < N; ++k) {
        Word w = 0;
        for (int i = 0; i < (int)sizeof(Word); ++i)
            w |= (Word)values[(levels[k] >> (kBits * i)) & ((1 << kBits) - 1)] << (8 * i);
        t.points[k] = w;
    }
    return t;
}

// The grid of type T (evaluated only where used: the level lists are expanded here, per call).
template <quant::TypeId T>
constexpr auto iq_grid_table() {
    using quant::TypeId;
    if constexpr (T == TypeId::IQ2_XXS) {
        constexpr uint16_t levels[256] = {SHOOTOUT_IQ2_GRID256_LEVELS};
        return pack_iq_grid<uint64_t, 256, 2>(levels, kIq2LevelValues);
    } else if constexpr (T == TypeId::IQ2_XS) {
        constexpr uint16_t levels[512] = {SHOOTOUT_IQ2_GRID512_LEVELS};
        return pack_iq_grid<uint64_t, 512, 2>(levels, kIq2LevelValues);
    } else if constexpr (T == TypeId::IQ2_S) {
        constexpr uint16_t levels[1024] = {SHOOTOUT_IQ2_GRID1024_LEVELS};
        return pack_iq_grid<uint64_t, 1024, 2>(levels, kIq2LevelValues);
    } else if constexpr (T == TypeId::IQ3_XXS) {
        constexpr uint16_t levels[256] = {SHOOTOUT_IQ3_GRID256_LEVELS};
        return pack_iq_grid<uint32_t, 256, 3>(levels, kIq3xxsLevelValues);
    } else {
        static_assert(T == TypeId::IQ3_S, "no lattice grid for this type");
        constexpr uint16_t levels[512] = {SHOOTOUT_IQ3_GRID512_LEVELS};
        return pack_iq_grid<uint32_t, 512, 3>(levels, kIq3sLevelValues);
    }
}

}  // namespace shootout::cuda
