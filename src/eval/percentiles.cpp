#include "eval/percentiles.h"

#include <algorithm>

#include "util/error.h"

namespace shootout::eval {

float percentile_sorted(std::span<const float> sorted, float fraction) {
    if (sorted.empty()) {
        fail("percentile", "no values");
    }
    if (fraction <= 0) {
        return sorted.front();
    }
    if (fraction >= 1) {
        return sorted.back();
    }
    // Float arithmetic on purpose: llama.cpp interpolates in float, and at N ~ 150k the position's
    // rounding moves the result visibly in the 6th digit.
    float position = fraction * float(sorted.size() - 1);
    const size_t index = size_t(position);
    position -= float(index);
    return (1 - position) * sorted[index] + position * sorted[std::min(index + 1, sorted.size() - 1)];
}

float median_sorted(std::span<const float> sorted) {
    if (sorted.empty()) {
        fail("median", "no values");
    }
    const size_t n = sorted.size();
    return n % 2 == 0 ? 0.5f * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

std::vector<float> sorted_copy(std::span<const float> values) {
    std::vector<float> out(values.begin(), values.end());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace shootout::eval
