#pragma once

// Private to the in-process store: the snapshots still in use, by the revision (or engine
// sequence) they read at, so that history older than the oldest can be forgotten.
//
// Snapshots are taken at a revision that never decreases, so the live ones are kept as a sorted
// run of (revision, count) pairs: taking one appends or counts up at the back, releasing counts
// down (a binary search) and drops released pairs from the front. Unlike a multiset, neither
// allocates per snapshot (one is taken for every transaction).

#include <algorithm>
#include <cstdint>
#include <deque>
#include <utility>

#include "base/assert.h"

namespace kelpie::store::detail {

class LiveSnapshots {
public:
    // REQUIRES: at >= every revision added before.
    void add(int64_t at) {
        KELPIE_ASSERT(live_.empty() || live_.back().first <= at);
        if (!live_.empty() && live_.back().first == at) {
            live_.back().second++;
        } else {
            live_.emplace_back(at, 1);
        }
    }

    // REQUIRES: a snapshot at `at` is live.
    void release(int64_t at) {
        auto it = std::lower_bound(live_.begin(), live_.end(), at,
                                   [](const Entry& e, int64_t v) { return e.first < v; });
        KELPIE_ASSERT(it != live_.end() && it->first == at && it->second > 0);
        it->second--;
        while (!live_.empty() && live_.front().second == 0) {
            live_.pop_front();
        }
    }

    bool empty() const { return live_.empty(); }
    // REQUIRES: !empty().
    int64_t oldest() const { return live_.front().first; }

private:
    using Entry = std::pair<int64_t, uint32_t>;  // revision, snapshots at it (0: released)
    // Invariant: sorted by revision, unique; the front entry has a count > 0 (so empty exactly
    // when no snapshot is live).
    std::deque<Entry> live_;
};

}  // namespace kelpie::store::detail
