// Text in llama-perplexity's own layout, so a user can paste Shootout's numbers beside llama.cpp's:
// the per-chunk progress line (PPL, ln ratio, KLD, RMS Δp, same top p, running over the chunks so far)
// and the final statistics block.
#pragma once

#include <string>

#include "eval/statistics.h"

namespace shootout::report {

std::string progress_header();
// chunk is 1-based, as llama.cpp prints it.
std::string progress_line(int64_t chunk, const eval::KldStats& running);
std::string llama_style_summary(const eval::KldStats& s);

}  // namespace shootout::report
