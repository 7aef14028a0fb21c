// How much memory the models of a run need against what the machine has, to choose between keeping the
// reference resident beside the variants (exact) and caching its top-k log-probs (bounded error).
#pragma once

#include <cstdint>
#include <string>

namespace shootout::cli {

// MemAvailable from /proc/meminfo (0 when unknown).
uint64_t available_memory_bytes();

// "dense" when the models' bytes fit in 80 % of the available memory (or it is unknown), else "top-k".
std::string choose_reference_mode(uint64_t model_bytes, uint64_t available_bytes);

}  // namespace shootout::cli
