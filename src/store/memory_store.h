#pragma once

// The memory backend: the store's full semantics in process memory, on any executor. Used by the
// simulator and unit tests. Deterministic: given the executor's seed, the same calls give the same
// results, including the injected faults below (all off by default).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/executor.h"
#include "store/store.h"

namespace kelpie::store {

// Live control of the injected faults, shared with whoever drives the simulation: switch them off
// for a healing phase, and read how often each fired.
struct StoreFaultControl {
    bool enabled = true;
    uint64_t conflicts = 0;
    uint64_t unknown_results = 0;
    uint64_t unavailable = 0;
    uint64_t latency_spikes = 0;
    uint64_t early_lease_expiries = 0;
    uint64_t disk_write_failures = 0;
};

struct StoreFaults {
    double conflict_probability = 0;        // a commit that would succeed fails with conflict
    double unknown_result_probability = 0;  // a commit reports unknown_result (applied or not:
                                            // a coin flip from the seed)
    double unavailable_probability = 0;     // a read or commit fails with unavailable
    Duration latency_max;                   // each read and commit waits up to this long
    double early_lease_expiry_probability = 0;  // per expiry check and lease: expire it now
    // Per batch written to the disk: the write fails (applied or not: a coin flip). The store
    // then refuses every commit until it is opened again (as after a failed fsync).
    double disk_write_failure_probability = 0;
    std::shared_ptr<StoreFaultControl> control;  // optional
};

// The memory backend's data — its "disk" — which can outlive a store object. A store opened again
// on the same disk is a restarted store process: every acknowledged commit is there; what lived
// only in memory (open transactions, waiters) is gone; leases restart their TTL (as on RocksDB).
class MemoryDisk;
std::shared_ptr<MemoryDisk> make_memory_disk();

// Bug switches: each re-introduces a known bug class so that the simulator and the property tests
// can prove they catch it. Never set outside tests and `kelpie sim --bug`.
struct StoreBugs {
    bool skip_read_check = false;  // commit without checking the read set (lost updates)
    // A commit's first write is applied (and acknowledged) at once, the rest in a later commit:
    // others can read the half-applied state, and a crash in between loses the rest.
    bool non_atomic_commit = false;
};

// One write of an applied commit, as an observer sees it.
struct AppliedWrite {
    enum class Kind { set, clear, clear_range } kind = Kind::set;
    std::string key;  // clear_range: begin
    std::string end;  // clear_range only
    std::string value;
};
// Called on the store's executor after each commit is applied (including the deletions of an
// expired lease), in revision order. For the simulator's checkers, which watch the store from
// outside; must not call the store.
using CommitObserver = std::function<void(Revision, const std::vector<AppliedWrite>&)>;

struct MemoryStoreOptions {
    StoreFaults faults;
    StoreBugs bugs;
    CommitObserver on_commit;
    std::shared_ptr<MemoryDisk> disk;  // null: a private one, gone with the store
};

// `executor` must outlive the store.
Result<std::unique_ptr<Store>> make_memory_store(io::Executor& executor,
                                                 MemoryStoreOptions options = {});

}  // namespace kelpie::store
