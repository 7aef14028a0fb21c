// Environment switches: the backends' comparison settings (SHOOTOUT_CUDA_PDL=0, SHOOTOUT_CUDA_FLASH=0,
// ...) that turn a default path off, so two paths can be timed in one build.
#pragma once

#include <cstdlib>
#include <cstring>

namespace shootout {

// True when the variable `name` is set to exactly "0" (unset or any other value: the default path).
inline bool env_switched_off(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, "0") == 0;
}

}  // namespace shootout
