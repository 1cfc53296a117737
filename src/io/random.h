#pragma once

// A seeded pseudo-random source (xoshiro256**, seeded through splitmix64). The algorithm is pure:
// the same seed gives the same sequence on every machine. Where the seed comes from is the world's
// business: the simulator derives it from the run's seed; the real world from the OS.

#include <cstdint>

#include "base/assert.h"
#include "base/hash.h"

namespace kelpie::io {

__extension__ typedef unsigned __int128 uint128_t;

class Random {
public:
    explicit Random(uint64_t seed) { reseed(seed); }

    void reseed(uint64_t seed) {
        uint64_t x = seed;
        for (uint64_t& word : state_) {
            x += 0x9e3779b97f4a7c15ULL;
            word = mix64(x);
        }
    }

    uint64_t next_u64() {
        const uint64_t result = rotl(state_[1] * 5, 7) * 9;
        const uint64_t t = state_[1] << 17;
        state_[2] ^= state_[0];
        state_[3] ^= state_[1];
        state_[1] ^= state_[2];
        state_[0] ^= state_[3];
        state_[2] ^= t;
        state_[3] = rotl(state_[3], 45);
        return result;
    }

    // Uniform in [0, bound). REQUIRES: bound > 0.
    uint64_t below(uint64_t bound) {
        KELPIE_ASSERT(bound > 0);
        // Lemire's nearly-divisionless method, with rejection for exact uniformity.
        uint128_t m = static_cast<uint128_t>(next_u64()) * bound;
        uint64_t low = static_cast<uint64_t>(m);
        if (low < bound) {
            const uint64_t threshold = (0 - bound) % bound;
            while (low < threshold) {
                m = static_cast<uint128_t>(next_u64()) * bound;
                low = static_cast<uint64_t>(m);
            }
        }
        return static_cast<uint64_t>(m >> 64);
    }

    // Uniform in [low, high]. REQUIRES: low <= high.
    int64_t between(int64_t low, int64_t high) {
        KELPIE_ASSERT(low <= high);
        const uint64_t span = static_cast<uint64_t>(high - low);
        if (span == UINT64_MAX) {
            return static_cast<int64_t>(next_u64());
        }
        return low + static_cast<int64_t>(below(span + 1));
    }

    // Uniform in [0, 1).
    double next_double() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

    // True with probability p (p <= 0: never; p >= 1: always).
    bool chance(double p) { return next_double() < p; }

private:
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    uint64_t state_[4] = {};
};

}  // namespace kelpie::io
