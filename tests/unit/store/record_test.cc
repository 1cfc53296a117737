// Goal: the in-process backends' stored record (docs/internals/store_format.md) round-trips, reads
// both format versions (1: FNV-1a checksum, as written before 2026-12-07; 2: CRC-32C), and reports
// any flipped byte, a truncation or an unknown version as corruption, never a wrong value.
// Method: a version-1 record built by hand; RapidCheck over values and the byte to flip.

#include "store/local/record.h"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include "base/hash.h"

namespace kelpie::store::detail {
namespace {

TEST(Record, RoundTripsInTheCurrentFormat) {
    const std::string bytes = encode_record(42, LeaseId(7), "value");
    ASSERT_EQ(bytes.size(), record_header_bytes + 5);
    EXPECT_EQ(static_cast<uint8_t>(bytes[0]), 2);
    Result<Record> r = decode_record("k", bytes);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->mod_revision, 42);
    EXPECT_EQ(r->lease, LeaseId(7));
    EXPECT_EQ(r->value, "value");
}

TEST(Record, VersionOneRecordsAreStillRead) {
    std::string v1;
    v1 += static_cast<char>(1);
    put_int64(v1, 9);
    put_int64(v1, 0);
    const auto sum = static_cast<uint32_t>(hash_bytes({v1, "old"}));
    for (int shift = 24; shift >= 0; shift -= 8) {
        v1 += static_cast<char>((sum >> shift) & 0xff);
    }
    v1 += "old";
    Result<Record> r = decode_record("k", v1);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->mod_revision, 9);
    EXPECT_EQ(r->value, "old");
    v1.back() = 'x';
    EXPECT_EQ(decode_record("k", v1).code(), ErrorCode::corruption);
}

TEST(Record, TruncatedOrUnknownVersionIsCorruption) {
    const std::string bytes = encode_record(1, LeaseId(), "v");
    EXPECT_EQ(decode_record("k", bytes.substr(0, record_header_bytes - 1)).code(), ErrorCode::corruption);
    std::string v3 = bytes;
    v3[0] = 3;
    Result<Record> r = decode_record("k", v3);
    EXPECT_EQ(r.code(), ErrorCode::corruption);
    EXPECT_NE(r.error().message.find("version 3"), std::string::npos);
}

RC_GTEST_PROP(Record, AnyFlippedByteIsCorruption, (std::string value, uint8_t flip)) {
    std::string bytes = encode_record(*rc::gen::inRange<int64_t>(0, 1'000'000), LeaseId(), value);
    const size_t at = *rc::gen::inRange<size_t>(0, bytes.size());
    bytes[at] = static_cast<char>(bytes[at] ^ (flip == 0 ? 1 : flip));
    RC_ASSERT(decode_record("k", bytes).code() == ErrorCode::corruption);
}

}  // namespace
}  // namespace kelpie::store::detail
