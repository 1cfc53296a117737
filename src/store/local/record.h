#pragma once

// The stored form of a user key's value in the in-process backends (docs/internals/store_format.md):
//
//   byte 0      format version (2; 1 is still read)
//   bytes 1-8   mod_revision, int64 big-endian
//   bytes 9-16  lease id, int64 big-endian (0: none)
//   bytes 17-20 checksum, big-endian: crc32c(bytes 0-16 + value) in version 2; in version 1 the
//               low 32 bits of hash_bytes(bytes 0-16 + value) (FNV-1a, weaker and slower)
//   bytes 21-   the value
//
// decode_record validates everything: an unknown version, a short record or a checksum mismatch
// is ErrorCode::corruption, naming the key.

#include <string>
#include <string_view>

#include "base/result.h"
#include "store/store.h"

namespace kelpie::store::detail {

inline constexpr uint8_t record_format_version = 2;  // what encode_record writes
inline constexpr size_t record_header_bytes = 21;

struct Record {
    Revision mod_revision = 0;
    LeaseId lease;
    std::string value;
};

std::string encode_record(Revision mod_revision, LeaseId lease, std::string_view value);
Result<Record> decode_record(std::string_view key, std::string_view bytes);
// The same, reusing `bytes`' storage for the value.
Result<Record> decode_record(std::string_view key, std::string&& bytes);

// Big-endian int64 helpers for system keys and records.
void put_int64(std::string& out, int64_t v);
int64_t get_int64(std::string_view bytes);  // REQUIRES: bytes.size() >= 8

}  // namespace kelpie::store::detail
