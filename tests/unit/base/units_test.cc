// Goal: Duration and Instant arithmetic, formatting and parsing behave as documented, including
// the rejection of malformed and out-of-range inputs.

#include "base/units.h"

#include <gtest/gtest.h>

#include "base/strong_id.h"

namespace kelpie {
namespace {

TEST(Duration, ConversionsAndArithmetic) {
    EXPECT_EQ(Duration::s(2).to_ms(), 2000);
    EXPECT_EQ(Duration::ms(1500).to_s(), 1);
    EXPECT_EQ((Duration::ms(1) + Duration::us(500)).to_us(), 1500);
    EXPECT_EQ(Duration::hours(1), Duration::minutes(60));
    EXPECT_LT(Duration::ms(1), Duration::s(1));
    EXPECT_EQ((Duration::s(3) / 3).to_ms(), 1000);
}

TEST(Duration, ToString) {
    EXPECT_EQ(Duration::ms(1250).to_string(), "1.250s");
    EXPECT_EQ(Duration::ms(15).to_string(), "15ms");
    EXPECT_EQ(Duration::us(300).to_string(), "300us");
    EXPECT_EQ(Duration::ns(42).to_string(), "42ns");
}

TEST(Duration, Parse) {
    Duration d;
    ASSERT_TRUE(parse_duration("250ms", &d));
    EXPECT_EQ(d, Duration::ms(250));
    ASSERT_TRUE(parse_duration("1.5s", &d));
    EXPECT_EQ(d, Duration::ms(1500));
    ASSERT_TRUE(parse_duration("300", &d));
    EXPECT_EQ(d, Duration::s(300));
    ASSERT_TRUE(parse_duration("2m", &d));
    EXPECT_EQ(d, Duration::s(120));
    ASSERT_TRUE(parse_duration("1h", &d));
    EXPECT_EQ(d, Duration::hours(1));
    for (const char* bad : {"", "s", "-1s", "1.2.3s", "10 s", "5parsecs", "1e400", ".s",
                            "99999999999999h"}) {
        EXPECT_FALSE(parse_duration(bad, &d)) << bad;
    }
}

TEST(Instant, Arithmetic) {
    const Instant t0 = Instant::from_ns(1000);
    const Instant t1 = t0 + Duration::us(1);
    EXPECT_EQ(t1 - t0, Duration::us(1));
    EXPECT_LT(t0, t1);
    EXPECT_EQ(t1.ns_since_origin(), 2000);
}

struct WidgetIdTag {};
using WidgetId = StrongId<WidgetIdTag>;

TEST(StrongId, DistinctAndComparable) {
    WidgetId a(1);
    WidgetId b(2);
    EXPECT_LT(a, b);
    EXPECT_EQ(fmt::format("{}", b), "2");
    static_assert(!std::is_convertible_v<WidgetId, NodeIndex>);
    static_assert(!std::is_convertible_v<uint64_t, WidgetId>);
}

}  // namespace
}  // namespace kelpie
