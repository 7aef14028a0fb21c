// Environment switches: the backends' comparison settings (SHOOTOUT_CUDA_PDL=0, SHOOTOUT_CUDA_FLASH=0,
// ...) that turn a default path off, and the trial ones that turn a path not yet the default on
// (SHOOTOUT_CUDA_DECODE_STAGE=1), so two paths can be timed in one build.
#pragma once

#include <cstdlib>
#include <cstring>

namespace shootout {

// True when the variable `name` is set to exactly "0" (unset or any other value: the default path).
inline bool env_switched_off(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, "0") == 0;
}

// True when the variable `name` is set to exactly "1".
inline bool env_switched_on(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace shootout
