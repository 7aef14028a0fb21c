// Percentiles exactly as llama-perplexity prints them: on the sorted values, linear interpolation at
// fraction*(N-1) computed in float; the median averages the two middle values for an even N.
#pragma once

#include <span>
#include <vector>

namespace shootout::eval {

// `sorted` must be ascending and non-empty.
float percentile_sorted(std::span<const float> sorted, float fraction);
float median_sorted(std::span<const float> sorted);

std::vector<float> sorted_copy(std::span<const float> values);

}  // namespace shootout::eval
