// Goal: KELPIE_ASSERT is on in every build type (this test binary is built RelWithDebInfo, i.e.
// with NDEBUG) and its report names the expression, the file and line, and the installed context.

#include "base/assert.h"

#include <cstdio>

#include <gtest/gtest.h>

namespace kelpie {
namespace {

TEST(AssertDeathTest, FiresInReleaseBuilds) {
#ifdef NDEBUG
    SUCCEED() << "NDEBUG is defined: checking that KELPIE_ASSERT ignores it";
#endif
    const int x = 2;
    EXPECT_DEATH(KELPIE_ASSERT(x == 3), "assertion failed: x == 3\n  at .*assert_test.cc:[0-9]+");
}

TEST(AssertDeathTest, MessageAndContext) {
    static int seed = 1234;
    set_assert_context(
        [](void* data, char* buffer, int size) {
            std::snprintf(buffer, static_cast<size_t>(size), "seed=%d", *static_cast<int*>(data));
        },
        &seed);
    EXPECT_DEATH(KELPIE_ASSERT_MSG(false, "boom"), "assertion failed: false — boom(.|\n)*seed=1234");
    set_assert_context(nullptr, nullptr);
}

TEST(Assert, PassingAssertionDoesNothing) {
    int evaluations = 0;
    KELPIE_ASSERT(++evaluations == 1);
    EXPECT_EQ(evaluations, 1);  // evaluated exactly once
}

}  // namespace
}  // namespace kelpie
