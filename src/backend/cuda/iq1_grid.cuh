// The IQ1_S / IQ1_M lattice on the device: 2048 points of 8 levels l = g + 1 (0..2 for the grid
// values -1, 0, +1), built at compile time from the CPU's packed list (quant/iq1_grid_values.inc, the
// one source of quant::kIQ1Grid2048), so the two backends cannot disagree on a point.
// Entry k packs point k's levels as nibbles: byte i holds element i (low nibble) and element i + 4
// (high nibble), so `e & 0x0F0F0F0F` / `(e >> 4) & 0x0F0F0F0F` are elements 0..3 / 4..7 as bytes.
// 8 KB in global memory, read through L1 (__ldg): the lanes of a warp look up different points, which
// constant memory would serialize.
// The build compiles each .cu as a whole program (no -rdc), where a __device__ variable cannot be
// shared between translation units: every .cu that includes this header (through quant_blocks.cuh)
// gets its own module copy, whether it reads the table or not (8 KB each; a variable template did
// not avoid that, as the non-template helpers below instantiate it); the values still come from the
// one list.
#pragma once

#include <cstdint>

namespace shootout::cuda {

struct Iq1GridTable {
    uint32_t entry[2048];
};

namespace iq1_grid_detail {
inline constexpr uint16_t kPacked[2048] = {
#include "quant/iq1_grid_values.inc"
};
constexpr Iq1GridTable make_table() {
    Iq1GridTable t{};
    for (int k = 0; k < 2048; ++k) {
        uint32_t e = 0;
        for (int i = 0; i < 8; ++i) {
            const uint32_t level = (kPacked[k] >> (2 * i)) & 3u;
            e |= level << (i < 4 ? 8 * i : 8 * (i - 4) + 4);
        }
        t.entry[k] = e;
    }
    return t;
}
}  // namespace iq1_grid_detail

// Internal linkage: one copy per module (see above).
static __device__ const Iq1GridTable kIq1GridDev = iq1_grid_detail::make_table();

// Point `index` (0..2047) as its levels (g + 1): lo = elements 0..3, hi = elements 4..7, one per byte.
__device__ __forceinline__ void iq1_grid_levels(int index, uint32_t& lo, uint32_t& hi) {
    const uint32_t e = __ldg(&kIq1GridDev.entry[index]);
    lo = e & 0x0F0F0F0Fu;
    hi = (e >> 4) & 0x0F0F0F0Fu;
}

}  // namespace shootout::cuda
