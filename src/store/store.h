#pragma once

// The store: one transactional, ordered key-value API with leases (DESIGN §4), modelled on
// FoundationDB's transactions and etcd's leases. Every backend (memory, RocksDB, etcd) implements
// exactly these semantics and passes one conformance suite (tests/store_conformance/).
//
// Transactions
// - A transaction reads at a snapshot: the store revision current at its first read (or at begin).
//   Its own writes are visible to its later reads (read-your-writes); others' are not.
// - Writes are buffered and applied atomically by commit(). commit() succeeds only if no key or
//   range the transaction read has been changed by another commit since its snapshot (serializable,
//   optimistic). Otherwise it fails with ErrorCode::conflict and nothing is applied: retry from the
//   start (run_transaction does).
// - commit() may fail with ErrorCode::unknown_result: the outcome cannot be known (a connection
//   broke mid-commit). It may or may not have applied; every writer must be idempotent for this.
// - Other errors: unavailable (the store cannot be reached now; nothing applied), limit_exceeded
//   (a named limit below; nothing applied), lease_expired (a write names a lease that no longer
//   exists; nothing applied), invalid_argument, io_error, corruption.
// - A blind write (a key written but never read) never conflicts.
//
// Leases (etcd's model): grant(ttl) gives a lease; keys written with it are deleted when it expires
// or is revoked. Expiry is decided by the store's clock; keepalive() restarts the TTL and reports it.
//
// Revisions: every commit that writes anything advances the store revision; a key's mod_revision
// is the revision of the commit that last wrote it. Commits may share a revision: the etcd backend
// applies independent commits (none writes a key another reads or writes) together, so they are
// equivalent to one after the other in any order; the in-process backends give each commit its
// own. watch() waits for a change.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/strong_id.h"
#include "base/units.h"
#include "io/executor.h"
#include "io/task.h"

namespace kelpie::store {

// Limits. Values and transactions are sized so that any transaction fits in one etcd request
// (--max-request-bytes, 1.5 MiB by default) with room for keys and framing; larger state is
// chunked by the layer that owns it (ADR 0004). Keys stay small because every index repeats them.
inline constexpr size_t key_bytes_max = 4 * 1024;
inline constexpr size_t value_bytes_max = 1024 * 1024;
// Sum of key and value bytes over a transaction's writes.
inline constexpr size_t transaction_write_bytes_max = 1280 * 1024;
// Keys read plus keys/ranges written, per transaction. etcd compares and operations share one
// request; etcd must run with --max-txn-ops >= this (the test fixture does).
inline constexpr size_t transaction_operations_max = 1024;
// A range read returns at most this many pairs; ask again from the last key for more.
inline constexpr size_t range_limit_max = 10'000;
// Lease TTLs: at least a second (etcd's minimum granularity), at most a day.
inline constexpr Duration lease_ttl_min = Duration::s(1);
inline constexpr Duration lease_ttl_max = Duration::hours(24);
static_assert(key_bytes_max + value_bytes_max <= transaction_write_bytes_max);
static_assert(transaction_write_bytes_max < 1536 * 1024);

struct LeaseIdTag {};
using LeaseId = StrongId<LeaseIdTag, int64_t>;  // 0 means "no lease"

using Revision = int64_t;

struct KeyValue {
    std::string key;
    std::string value;
    Revision mod_revision = 0;  // 0 for a key written by this transaction and not yet committed
    LeaseId lease;              // the lease the key is attached to, or 0
};

struct RangeOptions {
    size_t limit = range_limit_max;  // REQUIRES: 0 < limit <= range_limit_max
    bool reverse = false;            // highest key first
};

struct RangeResult {
    std::vector<KeyValue> pairs;
    // false: nothing is left in the range. true: the limit cut it short, and more pairs may follow
    // (ask again from after the last key).
    bool more = false;
};

struct WriteOptions {
    LeaseId lease;  // attach the key to this lease (0: no lease)
};

class Transaction {
public:
    virtual ~Transaction() = default;

    // The value of `key`, or nullopt if absent. Adds `key` to the read set.
    virtual io::Task<Result<std::optional<KeyValue>>> get(std::string key) = 0;

    // Pairs with begin <= key < end, in key order (or reverse), at most options.limit. Adds the
    // part of the range it covered to the read set: all of [begin, end), unless the limit cut it
    // short, then up to and including the last pair returned (FoundationDB's rule). Keys from
    // 0xff on are the store's own and never returned: `end` is clipped there.
    virtual io::Task<Result<RangeResult>> range(std::string begin, std::string end,
                                                RangeOptions options = {}) = 0;

    // Buffer writes; applied by commit(). Validate sizes immediately (limit_exceeded,
    // invalid_argument) so that a bad write fails where it is made.
    virtual Status set(std::string_view key, std::string_view value, WriteOptions options = {}) = 0;
    virtual Status clear(std::string_view key) = 0;
    // Clears begin <= key < end. REQUIRES: begin <= end.
    virtual Status clear_range(std::string_view begin, std::string_view end) = 0;

    // Also conflict on `key` / [begin, end) as if read, without reading (FDB's add_read_conflict).
    virtual Status add_read_conflict(std::string_view key) = 0;

    // Applies the buffered writes if nothing read has changed; see the header comment for errors.
    // A transaction with no writes commits trivially (ok, nothing checked). Call at most once.
    virtual io::Task<Result<Revision>> commit() = 0;

    // The snapshot revision (after the first read or commit; 0 before).
    virtual Revision read_revision() const = 0;
};

struct LeaseInfo {
    LeaseId id;
    Duration ttl;        // as granted
    Duration remaining;  // by the store's clock, when answered
};

// A change seen by watch().
struct WatchResult {
    Revision revision = 0;  // the revision of the first commit after `after` that touched the range
};

class Store {
public:
    virtual ~Store() = default;

    // A short name for logs and health: "memory", "rocksdb", "etcd".
    virtual std::string_view backend_name() const = 0;

    virtual std::unique_ptr<Transaction> begin() = 0;

    // Leases. grant: REQUIRES lease_ttl_min <= ttl <= lease_ttl_max (else invalid_argument).
    virtual io::Task<Result<LeaseId>> grant_lease(Duration ttl) = 0;
    // Restarts the lease's TTL. lease_expired if it is gone.
    virtual io::Task<Result<LeaseInfo>> keepalive(LeaseId lease) = 0;
    // Revokes the lease and deletes its keys. Ok if it was already gone.
    virtual io::Task<Status> revoke_lease(LeaseId lease) = 0;

    // Waits until a commit after revision `after` changes a key in [begin, end), or `timeout`
    // passes (then: ErrorCode::timeout). Returns at once if such a commit already happened.
    virtual io::Task<Result<WatchResult>> watch(std::string begin, std::string end, Revision after,
                                                Duration timeout) = 0;

    // The current revision.
    virtual io::Task<Result<Revision>> current_revision() = 0;

    // Stops background work (lease expiry, connections). Further calls fail with closed.
    virtual io::Task<void> close() = 0;
};

// Retries `body` on conflict (and, if the caller says its body is idempotent, on unknown_result)
// with exponential backoff and jitter, at most `attempts_max` times. `body` receives a fresh
// transaction each time and should end with commit().
struct RetryOptions {
    uint32_t attempts_max = 10;
    Duration backoff_initial = Duration::ms(2);
    Duration backoff_max = Duration::ms(500);
    bool retry_unknown_result = false;  // only for idempotent bodies
};

template <typename T>
using TransactionBody = std::function<io::Task<Result<T>>(Transaction&)>;

template <typename T>
io::Task<Result<T>> run_transaction(io::Executor& executor, Store& store, TransactionBody<T> body,
                                    RetryOptions options = {});

// The smallest key greater than every key starting with `prefix` (for prefix ranges); empty if
// there is none (the prefix is all 0xff bytes).
std::string prefix_end(std::string_view prefix);

// Validation shared by every backend (limits, argument checks), so they reject alike.
Status check_key(std::string_view key);
Status check_value(std::string_view value);
Status check_range(std::string_view begin, std::string_view end);
Status check_lease_ttl(Duration ttl);

template <typename T>
io::Task<Result<T>> run_transaction(io::Executor& executor, Store& store, TransactionBody<T> body,
                                    RetryOptions options) {
    Duration backoff = options.backoff_initial;
    for (uint32_t attempt = 1;; attempt++) {
        std::unique_ptr<Transaction> transaction = store.begin();
        Result<T> result = co_await body(*transaction);
        if (result.ok()) {
            co_return result;
        }
        const ErrorCode code = result.code();
        const bool retryable = code == ErrorCode::conflict || code == ErrorCode::unavailable ||
                               (code == ErrorCode::unknown_result && options.retry_unknown_result);
        if (!retryable || attempt >= options.attempts_max) {
            co_return result;
        }
        // Full jitter in [backoff/2, backoff]: retries of colliding transactions spread out.
        const int64_t half = backoff.to_ns() / 2;
        co_await executor.sleep_for(Duration::ns(half + executor.random().between(0, half)));
        backoff = std::min(backoff * 2, options.backoff_max);
    }
}

}  // namespace kelpie::store
