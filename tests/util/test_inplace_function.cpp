// InplaceFunction (util/inplace_function.h): calls its callable with the captures it was made with,
// moves them (the source left empty), and destroys each captured object exactly once, whether it is
// moved into a vector that grows, assigned over, or destroyed in place.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "util/inplace_function.h"

namespace shootout {
namespace {

// Counts live objects: every construction is matched by one destruction.
struct Tracked {
    static int live;
    int value;
    explicit Tracked(int v) : value(v) { ++live; }
    Tracked(const Tracked& o) : value(o.value) { ++live; }
    Tracked(Tracked&& o) noexcept : value(o.value) { ++live; }
    ~Tracked() { --live; }
};
int Tracked::live = 0;

using Fn = InplaceFunction<int(int, const int*), 96>;

TEST(InplaceFunction, CallsWithItsCaptures) {
    const std::string name = "layer 7";
    const int offset = 40;
    Fn f = [name, offset](int a, const int* b) { return offset + a * *b + (int)name.size(); };
    ASSERT_TRUE(f);
    const int three = 3;
    EXPECT_EQ(f(2, &three), 40 + 6 + 7);
    Fn empty;
    EXPECT_FALSE(empty);
}

TEST(InplaceFunction, MovesLeaveTheSourceEmptyAndDestroyOnce) {
    ASSERT_EQ(Tracked::live, 0);
    {
        Tracked t(5);
        Fn a = [t](int x, const int*) { return t.value * x; };
        EXPECT_EQ(Tracked::live, 2);  // t and the capture
        Fn b = std::move(a);
        EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
        EXPECT_EQ(b(3, nullptr), 15);
        EXPECT_EQ(Tracked::live, 2);  // moved, not copied and left behind

        Fn c = [t](int x, const int*) { return t.value + x; };
        EXPECT_EQ(Tracked::live, 3);
        c = std::move(b);  // c's own capture destroyed, b's moved in
        EXPECT_EQ(Tracked::live, 2);
        EXPECT_EQ(c(4, nullptr), 20);
        EXPECT_FALSE(b);  // NOLINT(bugprone-use-after-move)
    }
    EXPECT_EQ(Tracked::live, 0);
}

TEST(InplaceFunction, SurvivesAGrowingVector) {
    ASSERT_EQ(Tracked::live, 0);
    {
        std::vector<Fn> fns;  // as StepGraphs::ops_, reallocated as it grows
        for (int i = 0; i < 100; ++i) {
            Tracked t(i);
            std::vector<int> extra(3, i);  // a capture that owns heap memory
            fns.emplace_back([t, extra](int x, const int*) { return t.value * x + extra[2]; });
        }
        EXPECT_EQ(Tracked::live, 100);
        for (int i = 0; i < 100; ++i) EXPECT_EQ(fns[(size_t)i](2, nullptr), 3 * i) << i;
        fns.clear();
        EXPECT_EQ(Tracked::live, 0);
    }
    EXPECT_EQ(Tracked::live, 0);
}

}  // namespace
}  // namespace shootout
