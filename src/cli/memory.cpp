#include "cli/memory.h"

#include <fstream>
#include <sstream>

namespace shootout::cli {

uint64_t available_memory_bytes() {
    std::ifstream in("/proc/meminfo");
    std::string key;
    uint64_t value_kib = 0;
    std::string unit;
    while (in >> key >> value_kib >> unit)
        if (key == "MemAvailable:") return value_kib * 1024;
    return 0;
}

std::string choose_reference_mode(uint64_t model_bytes, uint64_t available_bytes) {
    if (available_bytes == 0) return "dense";
    // Models are memory-mapped: they need not all be resident, but a run that pages its weights in and
    // out for every chunk is far slower than running the reference once and caching what it gives.
    return model_bytes <= available_bytes / 10 * 8 ? "dense" : "top-k";
}

}  // namespace shootout::cli
