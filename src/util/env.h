// Environment switches: the backends' comparison settings (SHOOTOUT_CUDA_PDL=0, SHOOTOUT_CUDA_FLASH=0,
// ...) that turn a default path off, so two paths can be timed in one build; env_is(name, "1") is
// how a trial turns on a path not yet the default (SHOOTOUT_CUDA_STAGE_X=1 for every type); env_long
// reads a numeric setting (SHOOTOUT_CUDA_SWIGLU_THREADS=64 / 128 / 256).
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace shootout {

// True when the variable `name` is set to exactly `value`.
inline bool env_is(const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, value) == 0;
}
// True when the variable `name` is set to exactly "0" (unset or any other value: the default path).
inline bool env_switched_off(const char* name) { return env_is(name, "0"); }

// The variable `name` as a whole decimal number in [lo, hi]; `fallback` when it is unset, not a
// number, or out of range.
inline long env_long(const char* name, long lo, long hi, long fallback) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return fallback;
    char* end = nullptr;
    const long x = std::strtol(v, &end, 10);
    return *end == '\0' && x >= lo && x <= hi ? x : fallback;
}

// A switch whose default comes from the environment on first use and which tests may set (the CUDA
// backend's norm_folding). read: the environment's answer.
class SettableSwitch {
public:
    bool get(bool (*read)()) {
        int state = state_.load(std::memory_order_relaxed);
        if (state < 0) {
            int expected = -1;
            state_.compare_exchange_strong(expected, read() ? 1 : 0);
            state = state_.load(std::memory_order_relaxed);
        }
        return state == 1;
    }
    void set(bool on) { state_.store(on ? 1 : 0, std::memory_order_relaxed); }

private:
    std::atomic<int> state_{-1};  // -1: not read yet
};

}  // namespace shootout
