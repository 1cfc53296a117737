#pragma once

// The memory backend: the store's full semantics in process memory, on any executor. Used by the
// simulator and unit tests. Deterministic: given the executor's seed, the same calls give the same
// results, including the injected faults below (all off by default).

#include <memory>

#include "io/executor.h"
#include "store/store.h"

namespace kelpie::store {

struct StoreFaults {
    double conflict_probability = 0;        // a commit that would succeed fails with conflict
    double unknown_result_probability = 0;  // a commit reports unknown_result (applied or not:
                                            // a coin flip from the seed)
    double unavailable_probability = 0;     // a read or commit fails with unavailable
    Duration latency_max;                   // each read and commit waits up to this long
    double early_lease_expiry_probability = 0;  // per expiry check and lease: expire it now
};

// Bug switches: each re-introduces a known bug class so that the simulator and the property tests
// can prove they catch it. Never set outside tests and `kelpie sim --bug`.
struct StoreBugs {
    bool skip_read_check = false;  // commit without checking the read set (lost updates)
};

struct MemoryStoreOptions {
    StoreFaults faults;
    StoreBugs bugs;
};

// `executor` must outlive the store.
Result<std::unique_ptr<Store>> make_memory_store(io::Executor& executor,
                                                 MemoryStoreOptions options = {});

}  // namespace kelpie::store
