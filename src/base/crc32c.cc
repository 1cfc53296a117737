#include "base/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace kelpie {

namespace {

constexpr uint32_t castagnoli_reflected = 0x82F63B78;

constexpr std::array<uint32_t, 256> make_table() {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int bit = 0; bit < 8; bit++) {
            c = (c & 1) != 0 ? (c >> 1) ^ castagnoli_reflected : c >> 1;
        }
        t[i] = c;
    }
    return t;
}

constexpr std::array<uint32_t, 256> table = make_table();

uint32_t update_table(uint32_t crc, std::string_view bytes) {
    for (char ch : bytes) {
        crc = table[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
    }
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t update_sse42(uint32_t crc, std::string_view bytes) {
    const char* p = bytes.data();
    size_t n = bytes.size();
    uint64_t c = crc;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
    }
    auto c32 = static_cast<uint32_t>(c);
    for (; n > 0; p++, n--) {
        c32 = _mm_crc32_u8(c32, static_cast<uint8_t>(*p));
    }
    return c32;
}

bool has_sse42() {
    static const bool yes = __builtin_cpu_supports("sse4.2");
    return yes;
}
#endif

}  // namespace

uint32_t crc32c(std::initializer_list<std::string_view> parts) {
#if defined(__x86_64__)
    if (has_sse42()) {
        uint32_t crc = 0xFFFFFFFF;
        for (std::string_view part : parts) {
            crc = update_sse42(crc, part);
        }
        return crc ^ 0xFFFFFFFF;
    }
#endif
    return crc32c_table(parts);
}

uint32_t crc32c_table(std::initializer_list<std::string_view> parts) {
    uint32_t crc = 0xFFFFFFFF;
    for (std::string_view part : parts) {
        crc = update_table(crc, part);
    }
    return crc ^ 0xFFFFFFFF;
}

}  // namespace kelpie
