// util/env.h: a comparison switch is off only for the exact value "0".
#include <gtest/gtest.h>

#include <cstdlib>

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

}  // namespace
}  // namespace shootout
