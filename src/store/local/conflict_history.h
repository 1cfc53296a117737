#pragma once

// Conflict detection for the in-process backends (memory, RocksDB), as FoundationDB's resolver does
// it: remember which keys and ranges each commit wrote, by revision, and fail a transaction whose
// reads intersect a write newer than its snapshot.
//
// Invariants:
//  (1) Every write with revision > horizon_ is remembered; conflicts() answers "conflict" for any
//      snapshot older than horizon_ (too old to check: the transaction must retry).
//  (2) forget_through(r) only moves horizon_ forward, and only to revisions no live snapshot needs.

#include <string>
#include <vector>

#include "store/common/write_buffer.h"
#include "store/local/indexed_map.h"

namespace kelpie::store::detail {

class ConflictHistory {
public:
    // Remembers the writes of the commit at `revision`. REQUIRES: revisions increase.
    void record(Revision revision, const std::vector<Mutation>& writes);

    // True if a write after `snapshot` touches anything in `reads`, or if `snapshot` is older
    // than what is remembered.
    bool conflicts(Revision snapshot, const ReadSet& reads) const;

    // True if a write after `after` touches [begin, end) (for watches). Conservatively true when
    // `after` predates the horizon.
    bool changed_since(Revision after, const std::string& begin, const std::string& end) const;

    // Drops what no snapshot at or after `oldest_needed` can conflict with.
    void forget_through(Revision oldest_needed);

    Revision horizon() const { return horizon_; }
    size_t size() const { return point_writes_.size() + range_writes_.size(); }

private:
    bool range_written_after(Revision snapshot, const std::string& begin,
                             const std::string& end) const;
    bool key_written_after(Revision snapshot, const std::string& key) const;

    // Latest revision that wrote each key (point writes).
    IndexedMap<Revision> point_writes_;
    struct RangeWrite {
        std::string begin;
        std::string end;
        Revision revision;
    };
    std::vector<RangeWrite> range_writes_;  // in revision order
    Revision horizon_ = 0;
};

}  // namespace kelpie::store::detail
