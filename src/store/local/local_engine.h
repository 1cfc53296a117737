#pragma once

// The storage engine under an in-process store (memory or RocksDB): an ordered map of raw bytes
// with atomic, durable batches and consistent snapshots. LocalStore builds the store's semantics
// (records, revisions, conflicts, leases, watches) on top; an engine knows none of them.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "io/task.h"

namespace kelpie::store::detail {

struct EngineWrite {
    enum class Kind { put, erase, erase_range } kind = Kind::put;
    std::string key;  // for erase_range: begin
    std::string end;  // for erase_range
    std::string value;
};

using RawPairs = std::vector<std::pair<std::string, std::string>>;

class LocalEngine {
public:
    // A consistent view of the engine at the moment it was taken.
    class Snapshot {
    public:
        virtual ~Snapshot() = default;
    };

    virtual ~LocalEngine() = default;

    // A snapshot of everything applied so far. Cheap; never blocks.
    virtual std::shared_ptr<Snapshot> snapshot() = 0;
    virtual io::Task<Result<std::optional<std::string>>> get(std::shared_ptr<Snapshot> snapshot,
                                                             std::string key) = 0;
    // Up to `limit` pairs in [begin, end), in order (reverse: from the end).
    virtual io::Task<Result<RawPairs>> scan(std::shared_ptr<Snapshot> snapshot, std::string begin,
                                            std::string end, size_t limit, bool reverse) = 0;
    // Applies all writes atomically, in order; durable when it returns ok. An error means the
    // outcome is unknown (the batch may be partly or wholly on disk).
    virtual io::Task<Status> apply(std::vector<EngineWrite> writes) = 0;
};

}  // namespace kelpie::store::detail
