#pragma once

// Small, fast, deterministic 64-bit hashing for trace hashes, digests and stable ids (and the
// checksum of version-1 store records: store/local/record.h; version 2 uses base/crc32c.h). Not
// cryptographic.

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace kelpie {

// The splitmix64 finaliser: a bijective mix of all 64 bits.
constexpr uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Folds `value` into the running hash `h`; order matters.
constexpr uint64_t hash_combine(uint64_t h, uint64_t value) {
    return mix64(h ^ mix64(value + 0x632be59bd9b4e019ULL));
}

// FNV-1a over the concatenation of `parts`, finished with mix64; hash_bytes(a + b) ==
// hash_bytes({a, b}) without building a + b.
constexpr uint64_t hash_bytes(std::initializer_list<std::string_view> parts) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (std::string_view bytes : parts) {
        for (char c : bytes) {
            h ^= static_cast<uint8_t>(c);
            h *= 0x100000001b3ULL;
        }
    }
    return mix64(h);
}

constexpr uint64_t hash_bytes(std::string_view bytes) { return hash_bytes({bytes}); }

}  // namespace kelpie
