// Goal: the seeded Random source is reproducible and its helpers stay within their bounds and are
// roughly uniform (a coarse chi-square-free check: every bucket is hit within ±20% of expectation).

#include "io/random.h"

#include <gtest/gtest.h>

namespace kelpie::io {
namespace {

TEST(Random, SameSeedSameSequence) {
    Random a(123);
    Random b(123);
    Random c(124);
    bool differs = false;
    for (int i = 0; i < 100; i++) {
        const uint64_t x = a.next_u64();
        EXPECT_EQ(x, b.next_u64());
        differs |= x != c.next_u64();
    }
    EXPECT_TRUE(differs);
}

TEST(Random, BoundsAndUniformity) {
    Random r(9);
    std::vector<int> buckets(10, 0);
    for (int i = 0; i < 100'000; i++) {
        const uint64_t x = r.below(10);
        ASSERT_LT(x, 10u);
        buckets[x]++;
        const int64_t y = r.between(-3, 3);
        ASSERT_GE(y, -3);
        ASSERT_LE(y, 3);
        const double d = r.next_double();
        ASSERT_GE(d, 0.0);
        ASSERT_LT(d, 1.0);
    }
    for (int count : buckets) {
        EXPECT_GT(count, 8'000);
        EXPECT_LT(count, 12'000);
    }
    EXPECT_FALSE(r.chance(0.0));
    EXPECT_TRUE(r.chance(1.0));
}

}  // namespace
}  // namespace kelpie::io
