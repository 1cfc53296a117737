#pragma once

// The etcd backend: the store's semantics on an etcd v3 cluster (3.4+), for multi-node
// deployments. Every commit is one etcd Txn: its reads become compares on mod_revision at the
// transaction's snapshot revision, its writes the Txn's operations; leases and watches are
// etcd's own. Store revisions are etcd revisions and LeaseIds are etcd lease ids.
//
// Concurrent calls are batched, one batch in flight at a time: transactions' first reads go
// together in one read-only Txn (they share its revision as their snapshot), and independent
// commits (none writes a key another reads or writes) go together in one Txn, each as a nested
// Txn with its own compares, applied at one revision they share. At concurrency 1 nothing waits.
// Time spent queued counts against a call's timeout: a batch is sent with its oldest member's
// deadline, and a call still queued at its deadline fails with unavailable, not sent.
//
// Errors specific to this backend:
// - unavailable: the cluster did not answer (no quorum, no member reachable) within the call
//   timeout, after a few internal retries of reads and lease calls. The message names the
//   endpoints.
// - unknown_result: a commit's request may have reached the cluster, but no answer came (timeout,
//   broken connection). Commits are never retried internally.
// - conflict: also when a transaction's snapshot revision has been compacted away.
//
// Unary gRPC calls (reads, commits, lease grants) use gRPC's callback API and hold no thread while
// in flight; streaming calls (a keepalive, a watch) are synchronous and run on `pool`, never on the
// executor's thread: a pending watch holds one pool thread while it waits.

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/units.h"
#include "io/blocking.h"
#include "io/executor.h"
#include "io/task.h"
#include "store/store.h"

namespace kelpie::store {

struct EtcdStoreOptions {
    // Client endpoints, "127.0.0.1:2379" (host:port, IPv4). REQUIRES: not empty.
    std::vector<std::string> endpoints;
    // Deadline of each call to the cluster. Must exceed an etcd leader election (1 s with etcd's
    // defaults), so that a leader change delays calls instead of failing them.
    Duration call_timeout = Duration::s(5);
};

// Parses "etcd://h1:p1,h2:p2" into endpoints (hosts are IPv4 addresses or "localhost"). Fails
// with invalid_argument, naming the problem, on anything else.
Result<EtcdStoreOptions> parse_etcd_url(const std::string& url);

// Connects to the cluster (one channel over all endpoints, calls spread round-robin) and checks
// that it answers within call_timeout; unavailable, naming the endpoints, if it does not.
// `executor` and `pool` must outlive the store; close() must be awaited before destroying it.
io::Task<Result<std::unique_ptr<Store>>> open_etcd_store(io::Executor& executor,
                                                         io::BlockingPool& pool,
                                                         EtcdStoreOptions options);

}  // namespace kelpie::store
