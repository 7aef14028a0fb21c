// Pieces shared by the lattice quantizers (IQ2_*, IQ3_*). Sign folding (IQ2_*, IQ3_*): a group of 8 values is searched on a
// grid of magnitudes, its signs stored as one byte. The "even parity" variants store only 7 sign bits:
// when an odd number of values is negative, ggml flips the sign of the value that matters least
// (smallest weight * x^2) so that the eighth bit follows from the other seven.
#pragma once

#include <cstdint>

namespace shootout::quant {

// Writes |x| (with the parity fix applied) to xval[0..8) and returns the sign byte: bit i set for a
// negative value; with even_parity the returned byte is masked to 7 bits.
inline uint8_t fold_signs(const float* x, const float* weight, float* xval, bool even_parity) {
    int n_flip = 0;
    uint8_t signs = 0;
    for (int i = 0; i < 8; ++i) {
        if (x[i] >= 0) {
            xval[i] = x[i];
        } else {
            xval[i] = -x[i];
            ++n_flip;
            signs |= (uint8_t)(1 << i);
        }
    }
    if (even_parity && n_flip % 2) {
        int imin = 0;
        float min = weight[0] * x[0] * x[0];
        for (int i = 1; i < 8; ++i) {
            const float ax = weight[i] * x[i] * x[i];
            if (ax < min) {
                min = ax;
                imin = i;
            }
        }
        xval[imin] = -xval[imin];
        signs ^= (uint8_t)(1 << imin);
    }
    return even_parity ? (uint8_t)(signs & 127) : signs;
}

// The neighbour (indices run[1..run[0]] into lattice.points) with the least weighted squared error
// of scale * point against xval over kDim values; its levels (p - 1) / 2 go to L. Returns its index.
template <int kDim, class Lattice>
int best_neighbour(const uint16_t* run, const Lattice& lattice, const float* xval, const float* weight, float scale,
                   int8_t* L) {
    float best_d2 = 3.402823466e+38f;
    int best = -1;
    for (int j = 1; j <= run[0]; ++j) {
        const auto& p = lattice.points[run[j]];
        float d2 = 0;
        for (int i = 0; i < kDim; ++i) {
            const float q = p[i];
            const float diff = scale * q - xval[i];
            d2 += weight[i] * diff * diff;
        }
        if (d2 < best_d2) {
            best_d2 = d2;
            best = run[j];
        }
    }
    for (int i = 0; i < kDim; ++i) L[i] = (int8_t)((lattice.points[best][i] - 1) / 2);
    return best;
}

}  // namespace shootout::quant
