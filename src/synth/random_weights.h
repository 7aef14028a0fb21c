// Deterministic random tensor contents: float rows (for types that are quantized from floats) and
// random quantized blocks written directly (the fast path: no float weights, no quantizer), both from
// a seed per row, so the bytes do not depend on the number of threads.
#pragma once

#include <cstdint>
#include <string_view>

#include "quant/type_table.h"
#include "synth/tensor_list.h"

namespace shootout::synth {

// SplitMix64 (Steele, Lea, Flood 2014): one add and a few multiply-xorshifts per 64 random bits.
class SplitMix64 {
public:
    explicit SplitMix64(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    float uniform() { return static_cast<float>(next() >> 40) * (1.0f / 16777216.0f); }  // [0, 1)

private:
    uint64_t state_;
};

// The seed of one tensor: the run's seed mixed with the tensor's name (FNV-1a, then SplitMix64).
uint64_t tensor_seed(uint64_t seed, std::string_view tensor_name);
// The seed of row `row` of a tensor.
uint64_t row_seed(uint64_t tensor_seed, int64_t row);

// n floats of the given kind; Weight values are N(0, 0.02) (Irwin-Hall sum of four uniforms).
void random_floats(ValueKind kind, uint64_t seed, float* dst, int64_t n);

// True when random_blocks can write the type: every quantized type whose block has its scales in
// known places (Q4_0..Q8_0, Q2_K..Q6_K, the IQ types, TQ1_0, TQ2_0, MXFP4).
bool has_random_blocks(quant::TypeId type);
// n_blocks blocks of random quantized values whose scales give weights of about the magnitude of
// N(0, 0.02): every byte random, then each fp16 scale (or MXFP4 exponent) set to a fixed sane value,
// so no block decodes to Inf or NaN. Throws Error for a type has_random_blocks rejects.
void random_blocks(quant::TypeId type, uint64_t seed, uint8_t* dst, int64_t n_blocks);

}  // namespace shootout::synth
