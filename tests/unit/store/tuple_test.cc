// Goal: tuple packing preserves order element by element and round-trips, and unpacking malformed
// bytes reports corruption instead of crashing. Method: RapidCheck properties plus edge cases.

#include "store/tuple.h"

#include "store/store.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

namespace kelpie::store {
namespace {

RC_GTEST_PROP(Tuple, RoundTrips, (std::string text, std::string bytes, int64_t number)) {
    Tuple t;
    t.append(text).append_bytes(bytes).append(number);
    auto back = Tuple::unpack(t.pack());
    RC_ASSERT(back.ok());
    RC_ASSERT(*back == t);
}

RC_GTEST_PROP(Tuple, IntegerOrderIsPreserved, (int64_t a, int64_t b)) {
    RC_ASSERT((a < b) == (Tuple().append(a).pack() < Tuple().append(b).pack()));
}

RC_GTEST_PROP(Tuple, StringOrderIsPreserved, (std::string a, std::string b, int64_t tail)) {
    // Including embedded NULs and a following element: "a" < "a\0" < "ab" must hold packed too.
    const std::string pa = Tuple().append_bytes(a).append(tail).pack();
    const std::string pb = Tuple().append_bytes(b).append(tail).pack();
    if (a != b) {
        RC_ASSERT((a < b) == (pa < pb));
    }
}

TEST(Tuple, EdgeCases) {
    const std::string with_nul("a\0b", 3);
    auto back = Tuple::unpack(Tuple().append_bytes(with_nul).pack());
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(std::get<TupleBytes>((*back)[0]).value, with_nul);
    EXPECT_LT(Tuple().append("a").pack(), Tuple().append("a").append(int64_t{0}).pack());
    EXPECT_LT(Tuple().append(INT64_MIN).pack(), Tuple().append(int64_t{-1}).pack());
    EXPECT_LT(Tuple().append(int64_t{-1}).pack(), Tuple().append(int64_t{0}).pack());
}

TEST(Tuple, MalformedBytesAreCorruption) {
    for (std::string bad : {std::string("\x01unterminated"), std::string("\x15\x00\x01", 3),
                            std::string("\x7f"), std::string("\x02ok\x00\x99", 5)}) {
        auto r = Tuple::unpack(bad);
        ASSERT_FALSE(r.ok());
        EXPECT_EQ(r.code(), ErrorCode::corruption);
    }
}

TEST(Subspace, KeysStayInsideTheirRange) {
    Subspace agents(Tuple().append("agents"));
    Subspace other(Tuple().append("agentsx"));
    const std::string key = agents.key(Tuple().append("agent-1").append(int64_t{7}));
    EXPECT_TRUE(agents.contains(key));
    EXPECT_GE(key, agents.range_begin());
    EXPECT_LT(key, agents.range_end());
    EXPECT_FALSE(other.contains(key));
    EXPECT_TRUE(agents.range_end() <= other.range_begin() || agents.range_begin() >= other.range_end());
    auto t = agents.unpack(key);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(std::get<std::string>((*t)[0]), "agent-1");
    EXPECT_EQ(std::get<int64_t>((*t)[1]), 7);
}

TEST(PrefixEnd, Basics) {
    EXPECT_EQ(prefix_end("abc"), "abd");
    EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
    EXPECT_EQ(prefix_end(std::string("\xff\xff", 2)), "");
}

}  // namespace
}  // namespace kelpie::store
