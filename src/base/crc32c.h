#pragma once

// CRC-32C (Castagnoli: the checksum of iSCSI, ext4 and RocksDB) for the store's record checksum.
// It detects every error burst of up to 32 bits and every odd number of flipped bits; it is not
// cryptographic (accidental corruption, not tampering). The SSE4.2 crc32 instruction computes it
// where the CPU has one, a table elsewhere: the same value either way.

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace kelpie {

// Over the concatenation of `parts`: crc32c({a, b}) == crc32c(a + b) without building a + b.
uint32_t crc32c(std::initializer_list<std::string_view> parts);
inline uint32_t crc32c(std::string_view bytes) { return crc32c({bytes}); }

// The table version, whatever the CPU (tests compare the two).
uint32_t crc32c_table(std::initializer_list<std::string_view> parts);

}  // namespace kelpie
