// Goal: Result<T> carries either a value or an Error, and misuse (reading the wrong side) stops the
// process instead of returning garbage. Method: construct both sides, propagate with KELPIE_TRY,
// and death-test the wrong accessors.

#include "base/result.h"

#include <gtest/gtest.h>

namespace kelpie {
namespace {

Result<int> parse_positive(int x) {
    if (x <= 0) {
        return Error(ErrorCode::invalid_argument, "must be positive");
    }
    return x;
}

Result<int> doubled(int x) {
    auto r = parse_positive(x);
    if (!r.ok()) {
        return std::move(r).error();
    }
    return *r * 2;
}

Status check_both(int a, int b) {
    KELPIE_TRY(parse_positive(a));
    KELPIE_TRY(parse_positive(b));
    return {};
}

TEST(Result, ValueAndError) {
    auto good = parse_positive(3);
    ASSERT_TRUE(good.ok());
    EXPECT_EQ(*good, 3);
    auto bad = parse_positive(-1);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.code(), ErrorCode::invalid_argument);
    EXPECT_EQ(bad.error().to_string(), "invalid_argument: must be positive");
    EXPECT_EQ(bad.value_or(7), 7);
}

TEST(Result, Propagation) {
    EXPECT_EQ(*doubled(4), 8);
    EXPECT_EQ(doubled(0).code(), ErrorCode::invalid_argument);
    EXPECT_TRUE(check_both(1, 2).ok());
    EXPECT_EQ(check_both(1, -2).code(), ErrorCode::invalid_argument);
}

TEST(Result, MoveOnlyValues) {
    Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
    std::unique_ptr<int> p = std::move(r).value();
    EXPECT_EQ(*p, 5);
}

TEST(ResultDeathTest, ReadingValueOfErrorAborts) {
    auto bad = parse_positive(-1);
    EXPECT_DEATH((void)bad.value(), "assertion failed: ok\\(\\)");
}

TEST(ResultDeathTest, ReadingErrorOfValueAborts) {
    auto good = parse_positive(1);
    EXPECT_DEATH((void)good.error(), "assertion failed");
}

TEST(ErrorCode, NamesAreStable) {
    EXPECT_EQ(error_code_name(ErrorCode::conflict), "conflict");
    EXPECT_EQ(error_code_name(ErrorCode::unknown_result), "unknown_result");
    EXPECT_EQ(error_code_name(ErrorCode::fenced), "fenced");
}

}  // namespace
}  // namespace kelpie
