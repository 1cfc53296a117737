// Goal: crc32c is CRC-32C (the published check values), the same on the SSE4.2 path and the table
// path, and the same over parts as over their concatenation.
// Method: the standard check vectors, then RapidCheck over random byte strings cut at random places.

#include "base/crc32c.h"

#include <string>

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

namespace kelpie {
namespace {

TEST(Crc32c, CheckValues) {
    EXPECT_EQ(crc32c(""), 0u);
    EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // the CRC-32C check value (RFC 3720 family)
    EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);  // RFC 3720 B.4: 32 bytes of zeros
    EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);  // RFC 3720 B.4: 32 bytes of 0xff
    EXPECT_EQ(crc32c_table({"123456789"}), 0xE3069283u);
}

RC_GTEST_PROP(Crc32c, BothPathsAgreeAndPartsEqualTheWhole, (std::string bytes)) {
    const size_t cut = *rc::gen::inRange<size_t>(0, bytes.size() + 1);
    const std::string_view a(bytes.data(), cut);
    const std::string_view b(bytes.data() + cut, bytes.size() - cut);
    const uint32_t whole = crc32c(bytes);
    RC_ASSERT(crc32c({a, b}) == whole);
    RC_ASSERT(crc32c_table({bytes}) == whole);
    RC_ASSERT(crc32c_table({a, b}) == whole);
}

}  // namespace
}  // namespace kelpie
