// util/env.h: a comparison switch is off only for the exact value "0"; a settable switch reads the
// environment once, and a test's setting wins over it; a number setting takes only whole numbers in range.
#include <gtest/gtest.h>

#include <cstdlib>
#include <utility>

#include "util/env.h"

namespace shootout {
namespace {

constexpr const char* kName = "SHOOTOUT_TEST_ENV_SWITCH";

TEST(EnvSwitch, OffOnlyForZero) {
    ::unsetenv(kName);
    EXPECT_FALSE(env_switched_off(kName));  // unset: the default path
    ::setenv(kName, "0", 1);
    EXPECT_TRUE(env_switched_off(kName));
    for (const char* other : {"1", "", "00", "0 ", "off", "false"}) {
        ::setenv(kName, other, 1);
        EXPECT_FALSE(env_switched_off(kName)) << "value '" << other << "'";
    }
    ::unsetenv(kName);
}

TEST(EnvSwitch, SettableSwitchReadsOnceAndCanBeSet) {
    SettableSwitch s;
    ::setenv(kName, "1", 1);
    auto read = [] { return env_is(kName, "1"); };
    EXPECT_TRUE(s.get(read));
    ::setenv(kName, "0", 1);
    EXPECT_TRUE(s.get(read)) << "read again after the first call";
    s.set(false);
    EXPECT_FALSE(s.get(read));
    s.set(true);
    EXPECT_TRUE(s.get(read));
    SettableSwitch unset;
    EXPECT_FALSE(unset.get(read));  // "0" now
    ::unsetenv(kName);
}

// A number setting (the CUDA backend's SHOOTOUT_CUDA_SWIGLU_THREADS): whole
// decimal numbers in range only, the fallback otherwise.
TEST(EnvSwitch, NumberInRangeOrFallback) {
    ::unsetenv(kName);
    EXPECT_EQ(env_long(kName, 0, 100, -1), -1);
    const std::pair<const char*, long> cases[] = {{"0", 0},    {"100", 100}, {"37", 37}, {"101", -1}, {"-1", -1},
                                                  {"", -1},    {"50%", -1},  {"5 ", -1}, {"x", -1},   {"1e2", -1}};
    for (const auto& [value, want] : cases) {
        ::setenv(kName, value, 1);
        EXPECT_EQ(env_long(kName, 0, 100, -1), want) << "value '" << value << "'";
    }
    ::unsetenv(kName);
}

}  // namespace
}  // namespace shootout
