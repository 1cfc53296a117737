#pragma once

// LocalStore: the Store semantics for in-process engines (memory, RocksDB). One committer task per
// store takes queued commits in batches, checks each against the conflict history (and against the
// commits before it in the batch), gives each accepted commit the next revision, and applies the
// whole batch to the engine in one atomic, durable write — group commit.
//
// System keys (0xff prefix, invisible to users; docs/internals/store_format.md):
//   \xff rev                 the store revision (int64)
//   \xff lease/ <id>         a lease: its TTL in ns (int64)
//   \xff lkey/ <id> <key>    index: <key> was written with lease <id>
//
// Invariants:
//  (1) revision_ is the revision of the last applied batch; engine state == state at revision_.
//  (2) A commit is acknowledged only after the engine applied its batch durably.
//  (3) attachment_[k] == L iff the latest accepted write of k named lease L; lease expiry deletes
//      exactly the keys attached to the lease at the moment it is processed.

#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "io/channel.h"
#include "io/executor.h"
#include "store/common/write_buffer.h"
#include "store/local/conflict_history.h"
#include "store/local/live_snapshots.h"
#include "store/local/local_engine.h"
#include "store/memory_store.h"
#include "store/store.h"

namespace kelpie::store::detail {

// How often the lease expiry task looks; a lease outlives its TTL by at most this much.
inline constexpr Duration lease_expiry_check_interval = Duration::ms(100);
// Commits applied in one engine write, at most.
inline constexpr size_t commit_batch_commits_max = 256;

class LocalStore final : public Store {
public:
    LocalStore(io::Executor& executor, std::unique_ptr<LocalEngine> engine, std::string name,
               StoreFaults faults, StoreBugs bugs = {});
    ~LocalStore() override;

    // Reads the revision and leases from the engine and starts the background tasks. Call once,
    // before anything else.
    io::Task<Status> open();
    // See memory_store.h. Set before open().
    void set_commit_observer(CommitObserver observer) { observer_ = std::move(observer); }

    std::string_view backend_name() const override { return name_; }
    std::unique_ptr<Transaction> begin() override;
    io::Task<Result<LeaseId>> grant_lease(Duration ttl) override;
    io::Task<Result<LeaseInfo>> keepalive(LeaseId lease) override;
    io::Task<Status> revoke_lease(LeaseId lease) override;
    io::Task<Result<WatchResult>> watch(std::string begin, std::string end, Revision after,
                                        Duration timeout) override;
    io::Task<Result<Revision>> current_revision() override;
    io::Task<void> close() override;

private:
    friend class LocalTransaction;

    struct PendingCommit {
        std::vector<Mutation> mutations;  // user writes (or the deletions of a lease expiry)
        ReadSet reads;
        Revision snapshot = 0;
        bool check_reads = true;
        // System work riding on the commit.
        std::vector<EngineWrite> system_writes;
        LeaseId expire_lease;  // the lease whose keys this commit deletes (0: none)
        std::optional<Result<Revision>> result;
        std::coroutine_handle<> waiter;
    };
    struct LeaseState {
        Duration ttl;
        Instant expires_at;
        std::set<std::string> keys;  // keys ever attached; attachment_ says which still are
    };
    struct Watcher {
        std::string begin;
        std::string end;
        io::Channel<Revision>* wake;
    };

    io::Task<Result<Revision>> submit(PendingCommit& commit);
    io::Task<void> committer();
    io::Task<void> apply_batch(std::vector<PendingCommit*> batch);
    std::optional<Error> check_commit(const PendingCommit& c, const ConflictHistory& batch) const;
    bool faults_enabled() const { return faults_.control == nullptr || faults_.control->enabled; }
    void count(uint64_t StoreFaultControl::*counter) {
        if (faults_.control != nullptr) {
            (*faults_.control).*counter += 1;
        }
    }
    bool faults_active() const {
        return faults_.latency_max > Duration::zero() || faults_.unavailable_probability > 0 ||
               closed_;
    }
    void admit(PendingCommit& c, Revision revision, std::vector<EngineWrite>& writes);
    io::Task<void> lease_expiry_loop();
    io::Task<Status> expire_lease(LeaseId lease);
    io::Task<Status> inject_faults();
    void release_snapshot(Revision snapshot);

    io::Executor& executor_;
    std::unique_ptr<LocalEngine> engine_;
    std::string name_;
    StoreFaults faults_;
    StoreBugs bugs_;

    // Touched only on the executor.
    Revision revision_ = 0;
    ConflictHistory history_;
    LiveSnapshots live_snapshots_;
    size_t history_size_after_gc_ = 0;
    std::deque<PendingCommit*> queue_;
    io::Channel<bool> wake_;
    std::map<LeaseId, LeaseState> leases_;
    std::map<std::string, LeaseId, std::less<>> attachment_;
    std::vector<Watcher*> watchers_;
    std::optional<Error> failed_;  // set when an engine write failed: the store is unusable
    bool closed_ = false;
    io::CancellationSource background_;
    uint32_t background_running_ = 0;
    std::coroutine_handle<> close_waiter_;
    CommitObserver observer_;
    // Second halves of commits split by the non_atomic_commit bug switch, owned here.
    std::deque<std::unique_ptr<PendingCommit>> detached_;
};

}  // namespace kelpie::store::detail
