#pragma once

// The write buffer of a transaction and its read set, shared by every backend: buffering, limits,
// read-your-writes for point and range reads, and the final list of mutations for commit.
//
// Invariants:
//  (1) cleared_ holds disjoint, non-adjacent-merged intervals [begin, end), sorted.
//  (2) A key in writes_ overrides cleared_: set() after clear_range() wins; clear_range() erases
//      the writes_ entries inside it, so a set() before a clear_range() loses.
//  (3) bytes_ == sum over writes_ of key + value sizes, plus both bounds of each cleared interval.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace kelpie::store::detail {

struct BufferedWrite {
    std::optional<std::string> value;  // nullopt: cleared
    LeaseId lease;
};

// What the buffer says about one key.
struct BufferedLookup {
    enum class Kind { not_buffered, cleared, set } kind = Kind::not_buffered;
    const BufferedWrite* write = nullptr;  // for set
};

struct Mutation {
    enum class Kind { set, clear, clear_range } kind = Kind::set;
    std::string key;  // for clear_range: begin
    std::string end;  // for clear_range
    std::string value;
    LeaseId lease;
};

class WriteBuffer {
public:
    Status set(std::string_view key, std::string_view value, LeaseId lease);
    Status clear(std::string_view key);
    Status clear_range(std::string_view begin, std::string_view end);

    BufferedLookup lookup(const std::string& key) const;
    bool empty() const { return writes_.empty() && cleared_.empty(); }
    size_t operation_count() const { return writes_.size() + cleared_.size(); }
    size_t bytes() const { return bytes_; }

    // Every buffered key in [begin, end), in order, with its write.
    std::vector<std::pair<std::string, const BufferedWrite*>> in_range(const std::string& begin,
                                                                      const std::string& end) const;
    bool is_cleared(const std::string& key) const;

    // The writes as mutations: cleared ranges first, then point sets/clears (invariant (2)).
    std::vector<Mutation> mutations() const;

    // Reads share the transaction_operations_max budget with writes.
    void note_read() { reads_++; }
    Status check_budget(size_t extra_operations, size_t extra_bytes) const;

private:

    std::map<std::string, BufferedWrite, std::less<>> writes_;
    std::map<std::string, std::string, std::less<>> cleared_;  // begin -> end
    size_t bytes_ = 0;
    size_t reads_ = 0;
};

// What a transaction read, for conflict checks: point keys with the mod_revision observed (0 if
// absent), and range windows with the pairs observed in them.
struct ReadSet {
    struct Key {
        std::string key;
        Revision observed = 0;
    };
    struct Range {
        std::string begin;
        std::string end;
        std::vector<Key> observed;
    };
    std::vector<Key> keys;
    std::vector<Range> ranges;
    size_t size() const { return keys.size() + ranges.size(); }
};

// A Transaction that buffers writes and tracks reads; a backend supplies snapshot reads and the
// commit. REQUIRES: used from one executor.
class BufferedTransaction : public Transaction {
public:
    io::Task<Result<std::optional<KeyValue>>> get(std::string key) override;
    io::Task<Result<RangeResult>> range(std::string begin, std::string end,
                                        RangeOptions options) override;
    Status set(std::string_view key, std::string_view value, WriteOptions options) override;
    Status clear(std::string_view key) override;
    Status clear_range(std::string_view begin, std::string_view end) override;
    Status add_read_conflict(std::string_view key) override;
    io::Task<Result<Revision>> commit() override;

protected:
    // Reads at the transaction's snapshot (the backend fixes it at the first call).
    virtual io::Task<Result<std::optional<KeyValue>>> snapshot_get(std::string key) = 0;
    virtual io::Task<Result<RangeResult>> snapshot_range(std::string begin, std::string end,
                                                         size_t limit, bool reverse) = 0;
    // Applies `mutations` if nothing in `reads` changed since the snapshot. REQUIRES: writes.
    virtual io::Task<Result<Revision>> commit_writes(std::vector<Mutation> mutations,
                                                     ReadSet reads) = 0;

    const ReadSet& reads() const { return reads_; }

private:
    Status budget_for_read();

    WriteBuffer buffer_;
    ReadSet reads_;
    bool committed_ = false;
};

// Returns `end` clipped so that user ranges never reach the store's own keys (0xff...).
std::string clip_user_end(std::string end);

}  // namespace kelpie::store::detail
